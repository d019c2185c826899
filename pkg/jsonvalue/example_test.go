package jsonvalue_test

import (
	"fmt"

	"github.com/openintent-go/openintent/pkg/jsonvalue"
)

// Marshal writes what json.Marshal writes: keys sorted, HTML characters escaped.
func ExampleMarshal() {
	b, err := jsonvalue.Marshal(jsonvalue.Object{"b": []any{1.5, true, nil}, "a": "<ok>"})
	if err != nil {
		panic(err)
	}
	fmt.Println(string(b))
	// Output: {"a":"\u003cok\u003e","b":[1.5,true,null]}
}
