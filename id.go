package tollgate

import (
	"crypto/rand"
	"encoding/binary"
	"sync"
	"time"
)

const crockford = "0123456789abcdefghjkmnpqrstvwxyz"

// Bits of an id, from the most significant: time in milliseconds (44 bits),
// a per-process sequence within the millisecond (18), and randomness (48).
// 110 bits, 22 characters of 5 bits.
//
// The time field is the Unix time plus idTimeOffset. Ids of the first
// format kept only 36 bits of time, which wrapped every 795 days; made
// since its last wrap (2026-08-14), they start with a character no higher
// than '4'. With the offset, ids made from now on start with 'b' or
// higher, so they sort after those, and keep sorting until the year 2387.
const (
	idTimeBits   = 44
	idSeqBits    = 18
	idRandBits   = 48
	idTimeOffset = 1 << 42
)

var idState struct {
	sync.Mutex
	ms  int64
	seq uint64
}

// NewID returns prefix + "_" + 22 characters that sort by creation time
// (millisecond, then a per-process sequence) and carry 48 random bits, so
// ids from many instances never collide. It is safe for concurrent use.
func NewID(prefix string) string {
	return newIDAt(prefix, time.Now().UnixMilli())
}

func newIDAt(prefix string, now int64) string {
	var r [8]byte
	_, _ = rand.Read(r[:])
	idState.Lock()
	ms := now
	if ms <= idState.ms {
		// The same millisecond (or the clock went back): keep order by
		// sequence, moving to the next millisecond when it is used up.
		ms = idState.ms
		idState.seq++
		if idState.seq >= 1<<idSeqBits {
			ms, idState.seq = ms+1, 0
		}
	} else {
		idState.seq = 0
	}
	idState.ms = ms
	seq := idState.seq
	idState.Unlock()
	return prefix + "_" + encodeID(uint64(ms)+idTimeOffset, seq, binary.BigEndian.Uint64(r[:])>>(64-idRandBits))
}

// encodeID writes time, sequence and randomness as one 110-bit number,
// most significant bits first.
func encodeID(ms, seq, rnd uint64) string {
	ms &= 1<<idTimeBits - 1
	// The number as hi:lo, 128 bits: ms in bits 66..109, seq 48..65, rnd 0..47.
	lo := seq<<idRandBits | rnd
	hi := ms<<(idSeqBits+idRandBits-64) | seq>>(64-idRandBits)
	var out [22]byte
	for i := 21; i >= 0; i-- {
		b := uint((21 - i) * 5) // offset of this character's lowest bit
		var v uint64
		switch {
		case b+5 <= 64:
			v = lo >> b
		case b >= 64:
			v = hi >> (b - 64)
		default:
			v = lo>>b | hi<<(64-b)
		}
		out[i] = crockford[v&31]
	}
	return string(out[:])
}
