module github.com/embatch/embatch

go 1.26.8

require (
	github.com/alitto/pond/v2 v2.7.1 // indirect
	github.com/google/go-cmp v0.7.0 // indirect
)
