package workflow_test

import (
	"errors"
	"fmt"

	"github.com/openintent-go/openintent/pkg/workflow"
)

func ExampleParse() {
	w, err := workflow.Parse([]byte(`openintent: "1.0"
info: {name: Review}
workflow:
  draft:
    description: Write the draft
    assign: writer
    outputs: {text: string}
  review:
    description: Review it
    assign: reviewer
    depends_on: [draft]
    inputs: {text: draft.text}
    outputs: {approved: boolean}
`), "review.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, pi := range w.Plan(workflow.PlanOptions{}).Intents {
		fmt.Println(pi.Phase, "->", pi.Assign, pi.DependsOn)
	}
	// The completion-time check of RFC-0024.
	err = w.Contract("review").CheckOutputs("task-1", map[string]any{"approved": "yes"})
	var mismatch *workflow.OutputTypeMismatchError
	fmt.Println(errors.As(err, &mismatch), mismatch.Key, mismatch.ExpectedType, mismatch.ActualType)
	// Output:
	// draft -> writer []
	// review -> reviewer [draft]
	// true approved boolean string
}

func ExampleValidationErrors() {
	_, err := workflow.Parse([]byte(`openintent: "1.0"
info: {name: Broken}
workflow:
  summarize:
    description: Summarize
    assign: writer
    depends_on: [research]
    inputs: {notes: research.notes}
`), "broken.yaml")
	var all workflow.ValidationErrors
	if errors.As(err, &all) {
		for _, e := range all {
			fmt.Println(e)
		}
	}
	// Output:
	// broken.yaml:7: workflow.summarize.depends_on: phase "summarize" depends on unknown phase "research" (hint: available phases: summarize)
	// broken.yaml:8: workflow.summarize.inputs: InputWiringError: phase "summarize" has invalid input wiring: notes: "research.notes" (phase "research" does not exist) (hint: input mappings are 'phase_name.key' with phase_name in depends_on, or '$trigger.key' / '$initial_state.key')
}
