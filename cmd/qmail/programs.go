package main

import (
	"goqmail/internal/prog"
)

// setuidQueue is what a setuid copy runs.
var setuidQueue prog.Main = func(ctx *prog.Context) int {
	ctx.Stderr.Write([]byte("qmail-queue: fatal: not built yet\n"))
	return 81
}

// programs maps each program name to its entry point. Keep it sorted.
var programs = map[string]entry{
	// programs: one line per program; helpers add theirs here.
}
