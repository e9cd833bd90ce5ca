package scanmode_test

import (
	"fmt"

	"github.com/complchain/complchain/scanmode"
)

func ExampleParse() {
	m, err := scanmode.Parse("async")
	fmt.Println(m, err, m == scanmode.Async)
	_, err = scanmode.Parse("fast")
	fmt.Println(err)
	// Output:
	// async <nil> true
	// unknown scan mode "fast" (want ordered, async or sync)
}
