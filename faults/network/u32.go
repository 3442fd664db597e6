package network

import (
	"encoding/binary"
	"net"

	"github.com/faultline/faultline/faults"
	"github.com/vishvananda/netlink"
)

// Offsets of the 32-bit words u32 compares, from the start of the IPv4 header, and the
// masks of the fields inside them (host order; netlink converts to network order).
const (
	wordVersionIHL = 0 // version, IHL, DSCP, total length
	maskVersionIHL = 0xff000000
	valueIPv4NoOpt = 0x45000000 // version 4, 5 words of header: ports are at a fixed offset

	wordFragment = 4 // id, flags, fragment offset
	maskFragOff  = 0x00001fff

	wordProtocol  = 8 // TTL, protocol, checksum
	maskProtocol  = 0x00ff0000
	shiftProtocol = 16

	wordDestination = 16

	wordPorts = 20 // source port, destination port (with a 20-byte IP header)
	maskDport = 0x0000ffff

	protoTCP = 6
	protoUDP = 17
)

// portBlock is a value/mask pair matching a power-of-two aligned run of ports.
type portBlock struct{ Value, Mask uint16 }

// portBlocks covers the inclusive range exactly with as few aligned blocks as possible,
// the way a range of addresses is covered with CIDRs.
func portBlocks(r faults.PortRange) []portBlock {
	var out []portBlock
	lo, hi := uint32(r.From), uint32(r.To)
	for lo <= hi {
		size := uint32(1)
		// Grow the block while it stays aligned at lo and inside the range.
		for size < 1<<16 && lo&(size*2-1) == 0 && lo+size*2-1 <= hi {
			size *= 2
		}
		out = append(out, portBlock{Value: uint16(lo), Mask: uint16(^(size - 1))})
		lo += size
	}
	return out
}

// selectors returns the u32 selectors that together match the filter: one per
// destination, port block and protocol. dests are IPv4 networks; none means any.
func selectors(dests []*net.IPNet, ports []faults.PortRange) []*netlink.TcU32Sel {
	type dest struct{ val, mask uint32 }
	var ds []dest
	for _, n := range dests {
		v4 := n.IP.To4()
		if v4 == nil {
			continue
		}
		ones, _ := n.Mask.Size()
		mask := uint32(0)
		if ones > 0 {
			mask = ^uint32(0) << (32 - ones)
		}
		ds = append(ds, dest{val: binary.BigEndian.Uint32(v4) & mask, mask: mask})
	}
	if len(ds) == 0 {
		ds = []dest{{}} // any destination
	}
	var out []*netlink.TcU32Sel
	for _, d := range ds {
		base := []netlink.TcU32Key{}
		if d.mask != 0 {
			base = append(base, netlink.TcU32Key{Mask: d.mask, Val: d.val, Off: wordDestination})
		}
		if len(ports) == 0 {
			if len(base) == 0 {
				// Everything IPv4: match the version nibble.
				base = append(base, netlink.TcU32Key{Mask: 0xf0000000, Val: 0x40000000, Off: wordVersionIHL})
			}
			out = append(out, &netlink.TcU32Sel{Flags: netlink.TC_U32_TERMINAL, Keys: base})
			continue
		}
		for _, r := range ports {
			for _, b := range portBlocks(r) {
				for _, proto := range []uint32{protoTCP, protoUDP} {
					keys := append(append([]netlink.TcU32Key{}, base...),
						netlink.TcU32Key{Mask: maskVersionIHL, Val: valueIPv4NoOpt, Off: wordVersionIHL},
						netlink.TcU32Key{Mask: maskFragOff, Val: 0, Off: wordFragment},
						netlink.TcU32Key{Mask: maskProtocol, Val: proto << shiftProtocol, Off: wordProtocol},
						netlink.TcU32Key{Mask: uint32(b.Mask), Val: uint32(b.Value), Off: wordPorts},
					)
					out = append(out, &netlink.TcU32Sel{Flags: netlink.TC_U32_TERMINAL, Keys: keys})
				}
			}
		}
	}
	return out
}
