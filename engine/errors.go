package engine

import "github.com/embatch/embatch/task"

// Error is the type of every error the account returns for bad input or a
// bad state; see task.Error. Match with errors.Is against the sentinels.
type Error = task.Error

// Sentinels for errors.Is, by Azure error code.
var (
	ErrInvalidPropertyValue    = task.ErrInvalidPropertyValue
	ErrMissingRequiredProperty = task.ErrMissingRequiredProperty
	ErrTaskExists              = task.ErrTaskExists
	ErrTaskNotFound            = task.ErrTaskNotFound
	ErrJobExists               = task.ErrJobExists
	ErrJobNotFound             = task.ErrJobNotFound
	ErrJobNotActive            = task.ErrJobNotActive
	ErrJobCompleted            = task.ErrJobCompleted
	ErrPoolExists              = task.ErrPoolExists
	ErrPoolNotFound            = task.ErrPoolNotFound
	ErrPoolBeingDeleted        = task.ErrPoolBeingDeleted
	ErrPoolNotSteady           = task.ErrPoolNotSteady
	ErrNodeNotFound            = task.ErrNodeNotFound
	ErrTaskDependencyNotFound  = task.ErrTaskDependencyNotFound
	// ErrAccountClosed is returned by every call after Close.
	ErrAccountClosed = &task.Error{Code: "AccountClosed", Message: "the account is closed"}
)
