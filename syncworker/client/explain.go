package client

import (
	"errors"

	"github.com/hearthdb/hearth/syncworker/wire"
)

// explain prefers the server's own account of why a session ended. A
// server that closes a connection (shutting down, credential expired)
// sends an error message first, but the client may trip over the closed
// socket while writing before its loop reads that message: the write
// failure says "offline", the message says why and how to retry.
func (s *session) explain(err error) error {
	var ce *Error
	if err == nil || (errors.As(err, &ce) && ce.Code != "") {
		return err
	}
	for {
		select {
		case fr := <-s.frames:
			if fr.err != nil {
				return err
			}
			if e, ok := fr.frame.Msg.(*wire.Error); ok && e.Re == 0 {
				return s.serverError(e)
			}
		default:
			return err
		}
	}
}
