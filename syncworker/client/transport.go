package client

import "context"

// Transport is a message connection to the sync server: one binary frame
// per message.
type Transport interface {
	Read(ctx context.Context) ([]byte, error)
	Write(ctx context.Context, msg []byte) error
	// Close ends the connection; graceful says whether to wait for the
	// peer's close handshake.
	Close(graceful bool) error
}

// Dialer opens a Transport.
type Dialer func(ctx context.Context, url string) (Transport, error)

// maxReadBytes bounds one message from the server.
const maxReadBytes = 64 << 20
