package sim

import (
	"math"
	"testing"
)

// erlangC is the probability that an arrival waits in an M/M/c queue with
// offered load a = λ/μ (a < c).
func erlangC(c int, a float64) float64 {
	// Sum a^k/k! for k < c, and the last term, in a numerically stable way.
	term, sum := 1.0, 0.0
	for k := 0; k < c; k++ {
		sum += term
		term *= a / float64(k+1)
	}
	last := term * float64(c) / (float64(c) - a)
	return last / (sum + last)
}

// mmcWait is the mean wait in queue of an M/M/c queue: C(c, a)/(cμ − λ).
func mmcWait(c int, lambda, mu float64) float64 {
	return erlangC(c, lambda/mu) / (float64(c)*mu - lambda)
}

// md1Wait is the Pollaczek–Khinchine mean wait of an M/D/1 queue with
// service time d: λd²/(2(1−ρ)), ρ = λd.
func md1Wait(lambda, d float64) float64 {
	rho := lambda * d
	return lambda * d * d / (2 * (1 - rho))
}

// batchMeans returns the mean of xs and the standard error of that mean
// estimated from k batch means (xs in arrival order, so that the batches
// are nearly independent when each spans many relaxation times).
func batchMeans(xs []float64, k int) (mean, se float64) {
	n := len(xs) / k * k
	b := n / k
	means := make([]float64, k)
	for i := range k {
		s := 0.0
		for _, x := range xs[i*b : (i+1)*b] {
			s += x
		}
		means[i] = s / float64(b)
		mean += means[i]
	}
	mean /= float64(k)
	v := 0.0
	for _, m := range means {
		v += (m - mean) * (m - mean)
	}
	return mean, math.Sqrt(v / float64(k-1) / float64(k))
}

func TestErlangC(t *testing.T) {
	// Textbook values: M/M/1 waits with probability ρ; C(2, 1) = 1/3.
	if got := erlangC(1, 0.7); math.Abs(got-0.7) > 1e-12 {
		t.Errorf("C(1, 0.7) = %v, want 0.7", got)
	}
	if got := erlangC(2, 1); math.Abs(got-1.0/3) > 1e-12 {
		t.Errorf("C(2, 1) = %v, want 1/3", got)
	}
	// M/M/1: Wq = ρ/(μ−λ).
	if got := mmcWait(1, 0.5, 1); math.Abs(got-1) > 1e-12 {
		t.Errorf("M/M/1 wait at ρ=0.5 = %v, want 1", got)
	}
	// M/D/1 at ρ = 0.5, d = 1: 0.5/(2·0.5) = 0.5.
	if got := md1Wait(0.5, 1); math.Abs(got-0.5) > 1e-12 {
		t.Errorf("M/D/1 wait = %v, want 0.5", got)
	}
}
