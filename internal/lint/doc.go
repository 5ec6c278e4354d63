// Package lint holds tests that read goqmail's own source rather than run
// it: checks of the whole tree that no single package's tests can make.
// It has no code of its own.
package lint
