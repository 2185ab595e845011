package id

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// maxPrefix bounds the prefix New keeps on its stack buffer; longer ones cost
// an extra allocation but still work.
const maxPrefix = 12

// New returns prefix followed by a new UUIDv7 in its canonical text form:
// 48 bits of Unix milliseconds, then 74 random bits. It takes no lock and
// allocates only the returned string.
func New(prefix string) string {
	var u [16]byte
	rand.Read(u[:]) // never fails: crypto/rand.Read crashes the program instead
	ms := uint64(time.Now().UnixMilli())
	u[0], u[1], u[2], u[3], u[4], u[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	u[6] = 0x70 | u[6]&0x0f // version 7
	u[8] = 0x80 | u[8]&0x3f // RFC 9562 variant

	var buf [maxPrefix + 36]byte
	out := buf[:0]
	if len(prefix) > maxPrefix {
		out = make([]byte, 0, len(prefix)+36)
	}
	out = append(out, prefix...)
	n := len(out)
	out = out[:n+36]
	hex.Encode(out[n:], u[0:4])
	out[n+8] = '-'
	hex.Encode(out[n+9:], u[4:6])
	out[n+13] = '-'
	hex.Encode(out[n+14:], u[6:8])
	out[n+18] = '-'
	hex.Encode(out[n+19:], u[8:10])
	out[n+23] = '-'
	hex.Encode(out[n+24:], u[10:16])
	return string(out)
}
