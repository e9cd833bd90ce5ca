module github.com/complchain/complchain/bench/peers

go 1.26.0

replace github.com/complchain/complchain => ../..

require (
	github.com/complchain/complchain v0.0.0-00010101000000-000000000000
	github.com/destel/rill v0.8.0
	github.com/sourcegraph/conc v0.3.0
	github.com/tejzpr/ordered-concurrently/v3 v3.0.1
	go.uber.org/goleak v1.3.0
	golang.org/x/sync v0.25.0
)

require (
	go.uber.org/atomic v1.7.0 // indirect
	go.uber.org/multierr v1.9.0 // indirect
)
