package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/openintent-go/openintent/pkg/openintent"
)

// Memory is an agent's memory in one namespace (RFC-0015): values kept across intents and runs.
type Memory struct {
	client    *openintent.Client
	namespace string
}

// Namespace returns the memory's namespace.
func (m *Memory) Namespace() string { return m.namespace }

// Put stores v (anything that encodes as JSON) under key, replacing what was there.
func (m *Memory) Put(ctx context.Context, key string, v any) error {
	_, err := openintent.PutMemoryValue(ctx, m.client, m.namespace, key, v)
	return err
}

// Get decodes the value under key into out (a pointer). A missing key is a
// *openintent.NotFoundError (errors.Is(err, openintent.ErrNotFound)).
func (m *Memory) Get(ctx context.Context, key string, out any) error {
	raw, err := openintent.GetMemoryValue[json.RawMessage](ctx, m.client, m.namespace, key)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("agent: memory %s/%s: decode into %T: %w", m.namespace, key, out, err)
	}
	return nil
}

// Delete forgets key; forgetting a missing key is not an error.
func (m *Memory) Delete(ctx context.Context, key string) error {
	e, err := m.client.FindMemory(ctx, m.namespace, key)
	if errors.Is(err, openintent.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := m.client.DeleteMemory(ctx, e.ID); err != nil && !errors.Is(err, openintent.ErrNotFound) {
		return err
	}
	return nil
}

// Tasks are the tasks of a Work's intent (RFC-0012).
type Tasks struct{ w *Work }

// Create creates a pending task on the intent (t.IntentID is the intent's).
func (t *Tasks) Create(ctx context.Context, task openintent.TaskCreate) (*openintent.Task, error) {
	task.IntentID = t.w.intentID()
	return t.w.agent.client.CreateTask(t.w.traced(ctx), task)
}

// List returns the intent's tasks, with this status only when status is not empty.
func (t *Tasks) List(ctx context.Context, status openintent.TaskStatus) ([]openintent.Task, error) {
	var out []openintent.Task
	for task, err := range t.w.agent.client.Tasks(ctx, t.w.intentID(), openintent.ListTasksParams{Status: status}) {
		if err != nil {
			return nil, err
		}
		out = append(out, task)
	}
	return out, nil
}

// Complete moves a task to completed with its output (through running when it is not yet).
func (t *Tasks) Complete(ctx context.Context, task *openintent.Task, output openintent.Object) (*openintent.Task, error) {
	return t.finish(ctx, task, openintent.TaskUpdate{Status: openintent.TaskCompleted, Output: output})
}

// Fail moves a task to failed with the error's text (through running when it is not yet).
func (t *Tasks) Fail(ctx context.Context, task *openintent.Task, cause error) (*openintent.Task, error) {
	msg := "failed"
	if cause != nil {
		msg = cause.Error()
	}
	return t.finish(ctx, task, openintent.TaskUpdate{Status: openintent.TaskFailed, Error: msg})
}

func (t *Tasks) finish(ctx context.Context, task *openintent.Task, u openintent.TaskUpdate) (*openintent.Task, error) {
	c := t.w.agent.client
	ctx = t.w.traced(ctx)
	cur := task
	if !slices.Contains([]openintent.TaskStatus{openintent.TaskRunning, openintent.TaskClaimed, openintent.TaskBlocked}, cur.Status) ||
		(cur.Status == openintent.TaskClaimed && u.Status == openintent.TaskCompleted) {
		var err error
		if cur, err = c.UpdateTask(ctx, cur.ID, cur.Version, openintent.TaskUpdate{Status: openintent.TaskRunning, AssignedAgent: t.w.agent.id}); err != nil {
			return nil, err
		}
	}
	return c.UpdateTask(ctx, cur.ID, cur.Version, u)
}

// Channel is a named channel of an intent (RFC-0021), used from a handler (Work.Channel,
// Work.ChannelOf).
type Channel struct {
	w        *Work
	intentID string
	name     string
}

// ID opens the channel if needed and returns its id.
func (ch *Channel) ID(ctx context.Context) (string, error) {
	return ch.w.agent.openChannel(ch.w.traced(ctx), ch.intentID, ch.name)
}

// Ask sends a request to an agent (or "role:<id>") and waits for its reply until ctx ends (give
// it a deadline). The handler gives up its slot of MaxConcurrency while it waits.
func (ch *Channel) Ask(ctx context.Context, to string, payload openintent.Object) (*openintent.ChannelMessage, error) {
	id, err := ch.ID(ctx)
	if err != nil {
		return nil, err
	}
	var reply *openintent.ChannelMessage
	ch.w.waiting(func() { reply, err = ch.w.agent.client.Ask(ch.w.traced(ctx), id, to, payload) })
	return reply, err
}

// Notify sends a message to an agent (or "role:<id>", or "" for everyone) without waiting.
func (ch *Channel) Notify(ctx context.Context, to string, payload openintent.Object) (*openintent.ChannelMessage, error) {
	id, err := ch.ID(ctx)
	if err != nil {
		return nil, err
	}
	return ch.w.agent.client.Notify(ch.w.traced(ctx), id, to, payload)
}

// Broadcast sends a message to everyone on the channel.
func (ch *Channel) Broadcast(ctx context.Context, payload openintent.Object) (*openintent.ChannelMessage, error) {
	id, err := ch.ID(ctx)
	if err != nil {
		return nil, err
	}
	return ch.w.agent.client.Broadcast(ch.w.traced(ctx), id, payload)
}

// openChannel returns the id of the intent's channel named name, creating it (open to everyone
// working on the intent, audited so that its messages are events of the intent's log, which tell
// the other agents following the intent that it exists) when there is none. The agent follows its messages when it has
// OnMessage handlers for it.
func (a *Agent) openChannel(ctx context.Context, intentID, name string) (string, error) {
	if name == "" {
		return "", errors.New("agent: channel name is empty")
	}
	key := intentID + "\x00" + name
	a.mu.Lock()
	id, ok := a.channels[key]
	a.mu.Unlock()
	if ok {
		return id, nil
	}
	chs, err := a.client.ListChannels(ctx, intentID)
	if err != nil {
		return "", err
	}
	var found *openintent.Channel
	for i := range chs {
		if chs[i].Name == name && chs[i].Status != openintent.ChannelClosed {
			found = &chs[i]
			break
		}
	}
	if found == nil {
		if found, err = a.client.CreateChannel(ctx, intentID, openintent.ChannelCreate{Name: name, MemberPolicy: openintent.MemberIntent,
			Options: &openintent.ChannelOptions{Audit: true}}); err != nil {
			return "", err
		}
	}
	a.mu.Lock()
	a.channels[key] = found.ID
	a.mu.Unlock()
	a.followChannel(*found)
	return found.ID, nil
}
