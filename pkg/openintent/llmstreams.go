package openintent

import (
	"context"
	"time"

	"github.com/openintent-go/openintent/gen/models"
)

// Stream coordination (RFC-0008): an LLM response streamed to an agent is logged as
// stream_started, optionally stream_chunk, then stream_completed or stream_cancelled, the
// Python SDK's start_stream, log_stream_chunk, complete_stream and cancel_stream.

// StartStream logs that a streamed LLM response begins (stream_started), by the client's agent.
func (c *Client) StartStream(ctx context.Context, intentID, streamID, provider, model string, opts ...Option) (*IntentEvent, error) {
	if err := requireIDs("StartStream", "intentID", intentID, "streamID", streamID); err != nil {
		return nil, err
	}
	p := c.streamState(intentID, streamID, provider, model, models.StreamStatePayloadStatusActive, 0, 0)
	p.StartedAt = Timestamp{Time: time.Now().UTC()}
	return c.logPayload(ctx, intentID, EventStreamStarted, p, opts)
}

// LogStreamChunk logs one chunk of a stream (stream_chunk); use it sparingly, every chunk is an
// event.
func (c *Client) LogStreamChunk(ctx context.Context, intentID, streamID string, chunkIndex, tokenCount int64, opts ...Option) (*IntentEvent, error) {
	if err := requireIDs("LogStreamChunk", "intentID", intentID, "streamID", streamID); err != nil {
		return nil, err
	}
	if chunkIndex < 0 || tokenCount < 0 {
		return nil, invalidArg("LogStreamChunk", "chunkIndex", "chunkIndex and tokenCount must not be negative")
	}
	return c.logPayload(ctx, intentID, EventStreamChunk, StreamChunkPayload{StreamID: streamID, ChunkIndex: chunkIndex, TokenCount: tokenCount}, opts)
}

// CompleteStream logs that a stream ended normally (stream_completed) with its totals.
func (c *Client) CompleteStream(ctx context.Context, intentID, streamID, provider, model string, chunksReceived, tokensStreamed int64, opts ...Option) (*IntentEvent, error) {
	if err := requireIDs("CompleteStream", "intentID", intentID, "streamID", streamID); err != nil {
		return nil, err
	}
	p := c.streamState(intentID, streamID, provider, model, models.StreamStatePayloadStatusCompleted, chunksReceived, tokensStreamed)
	p.CompletedAt = Timestamp{Time: time.Now().UTC()}
	return c.logPayload(ctx, intentID, EventStreamCompleted, p, opts)
}

// CancelStream logs that a stream was cancelled (stream_cancelled), why, and what had arrived.
func (c *Client) CancelStream(ctx context.Context, intentID, streamID, provider, model, reason string, chunksReceived, tokensStreamed int64, opts ...Option) (*IntentEvent, error) {
	if err := requireIDs("CancelStream", "intentID", intentID, "streamID", streamID); err != nil {
		return nil, err
	}
	p := c.streamState(intentID, streamID, provider, model, models.StreamStatePayloadStatusCancelled, chunksReceived, tokensStreamed)
	p.CancelledAt, p.CancelReason = Timestamp{Time: time.Now().UTC()}, reason
	return c.logPayload(ctx, intentID, EventStreamCancelled, p, opts)
}

func (c *Client) streamState(intentID, streamID, provider, model string, status models.StreamStatePayloadStatus, chunks, tokens int64) StreamStatePayload {
	return StreamStatePayload{StreamID: streamID, IntentID: intentID, AgentID: c.settings.agentID, Status: status,
		Provider: provider, Model: model, ChunksReceived: chunks, TokensStreamed: tokens}
}
