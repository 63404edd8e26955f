// Package codec is Hearth's tagged binary value codec (see FORMAT.md): the
// page↔worker messages (wasm/protocol), the sync wire (syncworker/wire),
// journal keys and sync checksums are all values in this encoding, so a
// value encodes to the same bytes everywhere. It imports nothing of Hearth.
//
// The JS mirror lives in web/protocol.js and is tested against the same
// vectors (testdata/vectors.json).
package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"
)

// Value tags, see FORMAT.md.
const (
	tagNull    = 0x00
	tagFalse   = 0x01
	tagTrue    = 0x02
	tagInt32   = 0x03
	tagInt64   = 0x04
	tagFloat64 = 0x05
	tagText    = 0x06
	tagBlob    = 0x07
	tagArray   = 0x08
	tagMap     = 0x09
)

// maxDepth bounds nesting so a hostile message cannot exhaust the stack.
const maxDepth = 64

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("malformed message")

// Encoder appends values to a byte buffer. Its zero value is ready to use.
// Containers are written by announcing their size first (Array, Map) and then
// writing exactly that many values (or key/value pairs).
//
// The writers of one value (Null … Key) are //go:noinline. Inlined, each
// call site carried its own appends and their calls to grow the slice, and
// Go's wasm backend makes every call a resume point of the caller: the
// worker's encoders of messages and statuses were 50–73 KB of code each,
// compiled on their first call, and the writers' copies 335 KB of the
// worker in all (docs/bundle-size.md). A row's values cost a call each,
// beside the two calls into SQLite that read the value.
type Encoder struct {
	buf []byte
}

// Bytes returns the encoded message.
func (e *Encoder) Bytes() []byte { return e.buf }

// Reset empties the buffer, keeping its capacity.
func (e *Encoder) Reset() { e.buf = e.buf[:0] }

// Reuse empties the encoder and makes it write into buf's storage: a
// caller that keeps encoded results in turn hands back one it no longer
// reads instead of growing a new buffer each time.
func (e *Encoder) Reuse(buf []byte) { e.buf = buf[:0] }

// Null writes a null.
//
//go:noinline
func (e *Encoder) Null() { e.buf = append(e.buf, tagNull) }

// Bool writes a boolean.
//
//go:noinline
func (e *Encoder) Bool(b bool) {
	if b {
		e.buf = append(e.buf, tagTrue)
	} else {
		e.buf = append(e.buf, tagFalse)
	}
}

// Int writes an integer, as int32 when it fits.
//
//go:noinline
func (e *Encoder) Int(i int64) {
	if i >= math.MinInt32 && i <= math.MaxInt32 {
		e.buf = append(e.buf, tagInt32)
		e.buf = binary.LittleEndian.AppendUint32(e.buf, uint32(int32(i)))
		return
	}
	e.buf = append(e.buf, tagInt64)
	e.buf = binary.LittleEndian.AppendUint64(e.buf, uint64(i))
}

// canonicalNaN is the quiet NaN JS engines produce; every NaN is written as
// it so both codecs emit identical bytes.
const canonicalNaN = 0x7ff8000000000000

// Float writes a float64.
//
//go:noinline
func (e *Encoder) Float(f float64) {
	bits := math.Float64bits(f)
	if f != f {
		bits = canonicalNaN
	}
	e.buf = append(e.buf, tagFloat64)
	e.buf = binary.LittleEndian.AppendUint64(e.buf, bits)
}

// Text writes a UTF-8 string.
//
//go:noinline
func (e *Encoder) Text(s string) {
	e.buf = append(e.buf, tagText)
	e.buf = binary.LittleEndian.AppendUint32(e.buf, uint32(len(s)))
	e.buf = append(e.buf, s...)
}

// TextBytes writes UTF-8 text held in a byte slice (avoids a string copy).
//
//go:noinline
func (e *Encoder) TextBytes(s []byte) {
	e.buf = append(e.buf, tagText)
	e.buf = binary.LittleEndian.AppendUint32(e.buf, uint32(len(s)))
	e.buf = append(e.buf, s...)
}

// Blob writes bytes.
//
//go:noinline
func (e *Encoder) Blob(b []byte) {
	e.buf = append(e.buf, tagBlob)
	e.buf = binary.LittleEndian.AppendUint32(e.buf, uint32(len(b)))
	e.buf = append(e.buf, b...)
}

// Array announces an array of n values.
//
//go:noinline
func (e *Encoder) Array(n int) {
	e.buf = append(e.buf, tagArray)
	e.buf = binary.LittleEndian.AppendUint32(e.buf, uint32(n))
}

// Map announces a map of n entries; write each as Key then a value.
//
//go:noinline
func (e *Encoder) Map(n int) {
	e.buf = append(e.buf, tagMap)
	e.buf = binary.LittleEndian.AppendUint32(e.buf, uint32(n))
}

// Key writes a map key.
//
//go:noinline
func (e *Encoder) Key(k string) {
	e.buf = binary.LittleEndian.AppendUint32(e.buf, uint32(len(k)))
	e.buf = append(e.buf, k...)
}

// Value writes any value of the types listed in FORMAT.md (plus Go's other
// integer types, float32 and []string for convenience).
func (e *Encoder) Value(v any) error {
	switch v := v.(type) {
	case nil:
		e.Null()
	case bool:
		e.Bool(v)
	case int:
		e.Int(int64(v))
	case int32:
		e.Int(int64(v))
	case int64:
		e.Int(v)
	case uint32:
		e.Int(int64(v))
	case float32:
		e.Float(float64(v))
	case float64:
		e.Float(v)
	case string:
		e.Text(v)
	case []byte:
		e.Blob(v)
	case []string:
		e.Array(len(v))
		for _, s := range v {
			e.Text(s)
		}
	case []any:
		e.Array(len(v))
		for _, x := range v {
			if err := e.Value(x); err != nil {
				return err
			}
		}
	case map[string]any:
		e.Map(len(v))
		for k, x := range v {
			e.Key(k)
			if err := e.Value(x); err != nil {
				return fmt.Errorf("key %q: %w", k, err)
			}
		}
	default:
		return fmt.Errorf("protocol: cannot encode %T", v)
	}
	return nil
}

// Encode encodes one value into a new buffer.
func Encode(v any) ([]byte, error) {
	var e Encoder
	if err := e.Value(v); err != nil {
		return nil, err
	}
	return e.buf, nil
}

// Decode decodes one message. Blobs alias msg: the caller owns msg and must
// not reuse it while the decoded value is in use.
func Decode(msg []byte) (any, error) {
	d := decoder{buf: msg}
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	if d.pos != len(d.buf) {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(d.buf)-d.pos)
	}
	return v, nil
}

type decoder struct {
	buf []byte
	pos int
}

func (d *decoder) need(n int) error {
	if n < 0 || len(d.buf)-d.pos < n {
		return fmt.Errorf("%w: truncated at byte %d", ErrMalformed, d.pos)
	}
	return nil
}

func (d *decoder) u32() (int, error) {
	if err := d.need(4); err != nil {
		return 0, err
	}
	n := binary.LittleEndian.Uint32(d.buf[d.pos:])
	d.pos += 4
	return int(n), nil
}

func (d *decoder) bytes() ([]byte, error) {
	n, err := d.u32()
	if err != nil {
		return nil, err
	}
	if err := d.need(n); err != nil {
		return nil, err
	}
	b := d.buf[d.pos : d.pos+n : d.pos+n]
	d.pos += n
	return b, nil
}

func (d *decoder) text() (string, error) {
	b, err := d.bytes()
	if err != nil {
		return "", err
	}
	if !utf8.Valid(b) {
		return "", fmt.Errorf("%w: invalid UTF-8 text before byte %d", ErrMalformed, d.pos)
	}
	return string(b), nil
}

func (d *decoder) value(depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("%w: nested deeper than %d", ErrMalformed, maxDepth)
	}
	if err := d.need(1); err != nil {
		return nil, err
	}
	tag := d.buf[d.pos]
	d.pos++
	switch tag {
	case tagNull:
		return nil, nil
	case tagFalse:
		return false, nil
	case tagTrue:
		return true, nil
	case tagInt32:
		if err := d.need(4); err != nil {
			return nil, err
		}
		v := int32(binary.LittleEndian.Uint32(d.buf[d.pos:]))
		d.pos += 4
		return int64(v), nil
	case tagInt64:
		if err := d.need(8); err != nil {
			return nil, err
		}
		v := int64(binary.LittleEndian.Uint64(d.buf[d.pos:]))
		d.pos += 8
		return v, nil
	case tagFloat64:
		if err := d.need(8); err != nil {
			return nil, err
		}
		v := math.Float64frombits(binary.LittleEndian.Uint64(d.buf[d.pos:]))
		d.pos += 8
		return v, nil
	case tagText:
		return d.text()
	case tagBlob:
		return d.bytes()
	case tagArray:
		n, err := d.u32()
		if err != nil {
			return nil, err
		}
		// Every element takes at least one byte: refuse counts the buffer
		// cannot hold before allocating for them.
		if err := d.need(n); err != nil {
			return nil, err
		}
		arr := make([]any, n)
		for i := range arr {
			if arr[i], err = d.value(depth + 1); err != nil {
				return nil, err
			}
		}
		return arr, nil
	case tagMap:
		n, err := d.u32()
		if err != nil {
			return nil, err
		}
		if err := d.need(n * 5); err != nil {
			return nil, err
		}
		m := make(map[string]any, n)
		for range n {
			k, err := d.text()
			if err != nil {
				return nil, err
			}
			if m[k], err = d.value(depth + 1); err != nil {
				return nil, err
			}
		}
		return m, nil
	default:
		return nil, fmt.Errorf("%w: unknown tag 0x%02x at byte %d", ErrMalformed, tag, d.pos-1)
	}
}

// Raw appends bytes that already hold exactly one encoded value.
func (e *Encoder) Raw(b []byte) { e.buf = append(e.buf, b...) }

// ArrayElement returns the encoding of element i of the encoded array msg,
// without decoding the other elements.
func ArrayElement(msg []byte, i int) ([]byte, error) {
	d := decoder{buf: msg}
	if err := d.need(1); err != nil {
		return nil, err
	}
	if d.buf[0] != tagArray {
		return nil, fmt.Errorf("%w: not an array", ErrMalformed)
	}
	d.pos = 1
	n, err := d.u32()
	if err != nil {
		return nil, err
	}
	if i < 0 || i >= n {
		return nil, fmt.Errorf("%w: element %d of %d", ErrMalformed, i, n)
	}
	for range i {
		if err := d.skip(0); err != nil {
			return nil, err
		}
	}
	start := d.pos
	if err := d.skip(0); err != nil {
		return nil, err
	}
	return msg[start:d.pos], nil
}

// skip advances past one value.
func (d *decoder) skip(depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("%w: nested deeper than %d", ErrMalformed, maxDepth)
	}
	if err := d.need(1); err != nil {
		return err
	}
	tag := d.buf[d.pos]
	d.pos++
	switch tag {
	case tagNull, tagFalse, tagTrue:
		return nil
	case tagInt32:
		d.pos += 4
	case tagInt64, tagFloat64:
		d.pos += 8
	case tagText, tagBlob:
		n, err := d.u32()
		if err != nil {
			return err
		}
		d.pos += n
	case tagArray, tagMap:
		n, err := d.u32()
		if err != nil {
			return err
		}
		for range n {
			if tag == tagMap {
				k, err := d.u32()
				if err != nil {
					return err
				}
				d.pos += k
			}
			if err := d.skip(depth + 1); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("%w: unknown tag 0x%02x", ErrMalformed, tag)
	}
	if d.pos > len(d.buf) {
		return fmt.Errorf("%w: truncated", ErrMalformed)
	}
	return nil
}

// TypeName names a decoded value's wire type for error messages.
func TypeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case int64:
		return "integer"
	case float64:
		return "float"
	case string:
		return "text"
	case []byte:
		return "blob"
	case []any:
		return "array"
	case map[string]any:
		return "map"
	}
	return fmt.Sprintf("%T", v)
}

// BeginCount writes a placeholder container count and returns its position,
// for results whose length is known only after they are written (rows).
func (e *Encoder) BeginCount(tag byte) int {
	e.buf = append(e.buf, tag, 0, 0, 0, 0)
	return len(e.buf) - 4
}

// EndCount fills in a count written by BeginCount.
func (e *Encoder) EndCount(pos, n int) {
	e.buf[pos] = byte(n)
	e.buf[pos+1] = byte(n >> 8)
	e.buf[pos+2] = byte(n >> 16)
	e.buf[pos+3] = byte(n >> 24)
}

// TagArray is the tag to pass to BeginCount for an array.
const TagArray = tagArray

// MapWriter writes a map whose entries it counts as they are written, so
// that an encoder with optional entries keeps no count by hand.
type MapWriter struct {
	e      *Encoder
	pos, n int
}

// BeginMap starts a counted map; write each entry as Key then a value,
// and finish with End.
func (e *Encoder) BeginMap() MapWriter {
	return MapWriter{e: e, pos: e.BeginCount(tagMap)}
}

// Key writes an entry's key and counts the entry.
//
//go:noinline
func (m *MapWriter) Key(k string) {
	m.n++
	m.e.Key(k)
}

// End fills in the map's count.
func (m *MapWriter) End() { m.e.EndCount(m.pos, m.n) }
