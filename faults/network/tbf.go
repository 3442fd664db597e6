package network

import (
	"fmt"
	"math"
	"time"

	"github.com/faultline/faultline/faults"
)

// ethernetHeader is added to the MTU: tbf counts whole frames against its bucket.
const ethernetHeader = 14

// defaultQueueTime is how long packets may wait for tokens when limit is not given.
const defaultQueueTime = 50 * time.Millisecond

// minTimerResolution is the coarsest wakeup granularity tbf's watchdog is assumed to
// achieve. With high-resolution timers the kernel reports a 1 ns clock, but a watchdog
// scheduled through softirqs under load fires with about a millisecond of slack; a bucket
// smaller than that much traffic keeps the achieved throughput below the rate.
const minTimerResolution = time.Millisecond

// maxBufferNanos is the largest tbf buffer the kernel keeps: it converts the buffer's
// ticks to nanoseconds and clamps at 2^32-1.
const maxBufferNanos = math.MaxUint32

func parseTbf(p faults.Params) (*tbfSpec, error) {
	s := &tbfSpec{RateBytes: p.Rate("rate") / 8, Burst: p.Bytes("burst"), Limit: p.Bytes("limit")}
	if s.RateBytes == 0 {
		return nil, fmt.Errorf("bandwidth: rate must be at least 8bit (one byte per second), e.g. rate = \"1mbit\"")
	}
	if p.Has("burst") && s.Burst <= 0 {
		return nil, fmt.Errorf("bandwidth: burst must be above 0 bytes, e.g. burst = \"32k\"")
	}
	if p.Has("limit") && s.Limit <= 0 {
		return nil, fmt.Errorf("bandwidth: limit must be above 0 bytes, e.g. limit = \"64k\"")
	}
	// Check what can be checked before the interface's MTU is known, with Ethernet's.
	if _, err := tbfSettings(s, 1500, 1000, 15.625); err != nil {
		return nil, err
	}
	return s, nil
}

// tbfConfig is what goes into the kernel's tc_tbf_qopt.
type tbfConfig struct {
	RateBytes   uint64 // bytes per second
	BurstBytes  uint32 // bucket size
	LimitBytes  uint32 // queue size
	BufferTicks uint32 // bucket size as transmission time at the rate, in psched ticks
}

// tbfSettings derives the kernel's tbf parameters from the fault's, for an interface of
// the given MTU, with the kernel's clock as /proc/net/psched reports it (hz: timer
// frequency; ticksPerMicro: psched ticks per microsecond, netlink.TickInUsec).
//
// The kernel wants the bucket as a time (tc_tbf_qopt.buffer, in ticks): how long
// sending the burst takes at the rate. The burst must hold a whole frame, or frames
// larger than it are dropped forever, and enough bytes for the rate at the timer's
// resolution, or the watchdog cannot keep the rate up.
func tbfSettings(s *tbfSpec, mtu int, hz, ticksPerMicro float64) (tbfConfig, error) {
	frame := int64(mtu) + ethernetHeader
	burst := s.Burst
	if burst == 0 {
		resolution := minTimerResolution.Seconds()
		if hz > 0 && 1/hz > resolution {
			resolution = 1 / hz
		}
		burst = int64(math.Ceil(float64(s.RateBytes) * resolution))
		if burst < frame {
			burst = frame
		}
	}
	if burst < frame {
		return tbfConfig{}, fmt.Errorf("bandwidth: burst %d bytes is smaller than one frame on this interface (MTU %d + %d header = %d bytes): such frames would be dropped, raise burst to at least %d",
			burst, mtu, ethernetHeader, frame, frame)
	}
	if burst > math.MaxUint32 {
		return tbfConfig{}, fmt.Errorf("bandwidth: burst %d bytes is larger than the kernel's limit of %d bytes", burst, uint32(math.MaxUint32))
	}
	bufferNanos := float64(burst) / float64(s.RateBytes) * 1e9
	if bufferNanos > maxBufferNanos {
		return tbfConfig{}, fmt.Errorf("bandwidth: rate %s is too low for a burst of %d bytes: the kernel keeps at most %.2fs of tokens and this burst needs %.2fs; raise the rate or lower burst",
			formatRate(s.RateBytes), burst, float64(maxBufferNanos)/1e9, bufferNanos/1e9)
	}
	limit := s.Limit
	if limit == 0 {
		limit = burst + int64(math.Ceil(float64(s.RateBytes)*defaultQueueTime.Seconds()))
	}
	if limit < frame {
		return tbfConfig{}, fmt.Errorf("bandwidth: limit %d bytes cannot queue one frame (%d bytes on this interface): raise limit to at least %d", limit, frame, frame)
	}
	if limit > math.MaxUint32 {
		limit = math.MaxUint32
	}
	ticks := math.Ceil(bufferNanos / 1e3 * ticksPerMicro)
	return tbfConfig{
		RateBytes:   s.RateBytes,
		BurstBytes:  uint32(burst),
		LimitBytes:  uint32(limit),
		BufferTicks: uint32(ticks),
	}, nil
}

// formatRate writes bytes per second as the bit rate a user wrote.
func formatRate(bytesPerSecond uint64) string {
	bits := float64(bytesPerSecond) * 8
	switch {
	case bits >= 1e9:
		return fmt.Sprintf("%ggbit", bits/1e9)
	case bits >= 1e6:
		return fmt.Sprintf("%gmbit", bits/1e6)
	case bits >= 1e3:
		return fmt.Sprintf("%gkbit", bits/1e3)
	}
	return fmt.Sprintf("%gbit", bits)
}
