// Package workflows holds the sample workflows that `openintent list` shows and `openintent
// new --from` copies: files of the workflow format (pkg/workflow) covering each of its
// features.
package workflows

import "embed"

// FS holds the sample workflows (*.yaml).
//
//go:embed *.yaml
var FS embed.FS
