// Package confluent reads and writes the Confluent Schema Registry wire
// format that serializers such as io.confluent.connect.avro.AvroConverter
// put around every key and value: a magic byte 0, the 4-byte big-endian
// schema id, then the serialized payload. For Protobuf the payload starts
// with the message-index path (SplitProtobuf). It is pure: resolving a
// schema id is the registry client's work.
package confluent

import (
	"encoding/binary"
	"errors"
)

// Magic is the first byte of a framed record.
const Magic byte = 0

// HeaderLen is the length of the framing before the payload.
const HeaderLen = 5

// Split reads the framing of b: the schema id and the payload that follows
// it (a subslice of b). ok is false when b is not framed: shorter than
// HeaderLen or not starting with Magic.
func Split(b []byte) (id int32, payload []byte, ok bool) {
	if len(b) < HeaderLen || b[0] != Magic {
		return 0, nil, false
	}
	return int32(binary.BigEndian.Uint32(b[1:HeaderLen])), b[HeaderLen:], true
}

// Frame returns the framed record: Magic, id, payload (a new slice).
func Frame(id int32, payload []byte) []byte {
	return AppendFrame(make([]byte, 0, HeaderLen+len(payload)), id, payload)
}

// AppendFrame appends the framed record to dst.
func AppendFrame(dst []byte, id int32, payload []byte) []byte {
	dst = append(dst, Magic)
	dst = binary.BigEndian.AppendUint32(dst, uint32(id))
	return append(dst, payload...)
}

// maxMessageIndexes bounds the message-index path of a Protobuf payload
// (the nesting depth of the message type in its file); far beyond any real
// schema, it keeps hostile input from allocating much.
const maxMessageIndexes = 256

// ErrMessageIndexes says a Protobuf payload's message-index path is
// malformed.
var ErrMessageIndexes = errors.New("confluent: malformed protobuf message indexes")

// SplitProtobuf reads the message-index path at the start of a Protobuf
// payload (after Split): a zigzag varint count, then that many zigzag
// varints, each the index of a message type within its parent (the first
// in the file is 0). A count of 0 alone, the common case, means [0]: the
// first message type of the schema. It returns the indexes and the
// Protobuf message that follows them.
func SplitProtobuf(payload []byte) (indexes []int, msg []byte, err error) {
	n, k := binary.Varint(payload)
	if k <= 0 || n < 0 || n > maxMessageIndexes {
		return nil, nil, ErrMessageIndexes
	}
	rest := payload[k:]
	if n == 0 {
		return []int{0}, rest, nil
	}
	indexes = make([]int, n)
	for i := range indexes {
		v, k := binary.Varint(rest)
		if k <= 0 || v < 0 || v > 1<<31-1 {
			return nil, nil, ErrMessageIndexes
		}
		indexes[i], rest = int(v), rest[k:]
	}
	return indexes, rest, nil
}

// AppendProtobufIndexes appends the message-index path of indexes, with
// the one-byte form (a single 0) for [0], as Confluent's serializer
// writes it.
func AppendProtobufIndexes(dst []byte, indexes []int) []byte {
	if len(indexes) == 0 || (len(indexes) == 1 && indexes[0] == 0) {
		return append(dst, 0)
	}
	dst = binary.AppendVarint(dst, int64(len(indexes)))
	for _, i := range indexes {
		dst = binary.AppendVarint(dst, int64(i))
	}
	return dst
}
