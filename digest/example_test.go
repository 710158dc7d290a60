package digest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/trustd-dev/trustd/digest"
)

func ExampleParse() {
	d, err := digest.Parse("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
	if err != nil {
		panic(err)
	}
	fmt.Println(d.Algorithm(), d.Format(digest.FormatMultihash))

	same, _ := digest.Parse(d.Format(digest.FormatMultihashBase32))
	fmt.Println(same == d)

	_, err = digest.Parse("sha256:abc")
	fmt.Println(err)
	fmt.Println(errors.Is(err, digest.ErrInvalid), errors.Is(err, digest.ErrWrongLength))
	// Output:
	// sha256 zQmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n
	// true
	// digest "sha256:abc": wrong length: sha256 needs 64 hex characters, got 3
	// true true
}

func ExampleSum() {
	res, err := digest.Sum(context.Background(), strings.NewReader("abc"), []digest.Algorithm{digest.SHA256, digest.BLAKE3})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Size)
	for _, d := range res.Digests {
		fmt.Println(d)
	}
	// Output:
	// 3
	// sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
	// blake3:6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85
}
