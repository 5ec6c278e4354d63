# goqmail: the quick start and the tests.
.PHONY: run test build vet clean

# Build, install in user mode under ./run, and serve SMTP on 127.0.0.1:2525.
run:
	./scripts/demo.sh

# Every test: unit, interop with Debian's tools, and end to end.
test:
	go vet ./...
	go test -count=1 -timeout 30m ./...
	go test -race -count=1 ./internal/send ./internal/spawn ./internal/smtpout ./internal/qq ./internal/clean ./internal/queue ./internal/tcpserver

# Pure Go and static, as the project's rules say (no cgo): without
# CGO_ENABLED=0 a machine with gcc links net and os/user against libc.
build:
	CGO_ENABLED=0 go build -o build/qmail ./cmd/qmail

clean:
	rm -rf build run
