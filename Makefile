# goqmail: the quick start and the tests.
.PHONY: run test build vet clean

# Build, install in user mode under ./run, and serve SMTP on 127.0.0.1:2525.
run:
	./scripts/demo.sh

# staticcheck, fetched and built by the go command from the module proxy
# (hardening.md G16); a version of our choosing, not a dependency in go.mod.
STATICCHECK = honnef.co/go/tools/cmd/staticcheck@v0.8.2

# Every test: vet and staticcheck, unit, interop with Debian's tools, and end to end.
test:
	go vet ./...
	go run $(STATICCHECK) ./...
	go test -count=1 -timeout 30m ./...
	go test -race -count=1 ./internal/send ./internal/spawn ./internal/smtpout ./internal/qq ./internal/clean ./internal/queue ./internal/tcpserver

# Pure Go and static, as the project's rules say (no cgo): without
# CGO_ENABLED=0 a machine with gcc links net and os/user against libc.
build:
	CGO_ENABLED=0 go build -o build/qmail ./cmd/qmail

clean:
	rm -rf build run
