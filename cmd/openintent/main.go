// Command openintent runs workflows and reads the state of an OpenIntent server.
//
//	openintent run workflow.yaml            create the workflow's portfolio and follow it live
//	openintent validate workflow.yaml ...   check workflow files
//	openintent new "My workflow"            write a starter workflow
//	openintent list                         list the sample workflows
//	openintent demo                         run a sample workflow on an in-process server
//	openintent intents list|get|watch       read intents; watch one live
//	openintent events tail INTENT_ID        follow an intent's event stream
//	openintent leases INTENT_ID             an intent's leases
//	openintent agents                       registered agents
//	openintent mcp                          serve the protocol to MCP clients (stdio or HTTP)
//	openintent completion bash|zsh|fish|powershell
//
// The server, API key and acting agent come from --url, --api-key and --agent-id, or from
// OPENINTENT_URL, OPENINTENT_API_KEY and OPENINTENT_AGENT_ID. Every read command prints JSON with
// --output json.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := execute(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// exitError carries a command's exit code (2 for usage errors, 1 otherwise).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// execute runs the command line args and returns the process's exit code.
func execute(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	root := newRoot(&env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv})
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintln(stderr, "openintent:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "openintent:", err)
	return 1
}
