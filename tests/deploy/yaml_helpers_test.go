package deploy

import (
	"bufio"
	"bytes"
	"regexp"
)

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }

var commentLine = regexp.MustCompile(`(?m)^\s*#.*$|^---\s*$`)

// stripComments drops comment lines and separators, to tell an empty document.
func stripComments(doc []byte) []byte { return commentLine.ReplaceAll(doc, nil) }
