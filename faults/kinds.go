package faults

import "time"

// Every fault kind of DESIGN.md's table. Besides these parameters, every fault block
// takes target, start, duration, every and times (see experiments.FaultSpec).

func init() {
	register(Kind{
		Name: "kill", Category: ContainerFault, Holds: "state",
		Summary: "Send a signal to the container's main process (default SIGKILL).",
		Params: []Param{
			{Name: "signal", Type: Signal, Default: "SIGKILL", Doc: "signal to send: a name (SIGKILL, TERM) or a number"},
			{Name: "restore", Type: Bool, Default: true, Doc: "at the fault's end, start the container again if it is not running by then"},
		},
	})
	register(Kind{
		Name: "stop", Category: ContainerFault, Holds: "state",
		Summary: "Stop the container with a grace period; it is started again at the fault's end.",
		Params: []Param{
			{Name: "grace", Type: Duration, Default: 10 * time.Second, Min: bound(0), Max: bound(3600),
				Doc: "time between SIGTERM and SIGKILL"},
		},
	})
	register(Kind{
		Name: "pause", Category: ContainerFault, Holds: "state",
		Summary: "Freeze every process of the container (cgroup freezer); unpaused at the fault's end.",
	})
	register(Kind{
		Name: "restart", Category: ContainerFault, Instant: true, Holds: "state",
		Summary: "Restart the container; nothing to revert.",
		Params: []Param{
			{Name: "timeout", Type: Duration, Default: 10 * time.Second, Min: bound(0), Max: bound(3600),
				Doc: "time to wait for the stop before killing"},
		},
	})
	register(Kind{
		Name: "resources", Category: ContainerFault, Holds: "limits",
		Summary:    "Squeeze CPU and memory limits; the exact earlier limits are restored at the fault's end.",
		AtLeastOne: []string{"cpus", "memory"},
		Params: []Param{
			{Name: "cpus", Type: Number, Min: bound(0.01), Max: bound(1024), Doc: "CPU limit in cores, e.g. 0.25"},
			{Name: "memory", Type: ByteSize, Min: bound(6 * 1024 * 1024), Doc: "memory limit, e.g. \"64m\" (Docker's floor is 6 MiB)"},
		},
	})

	pct := func(name, doc string) Param {
		return Param{Name: name, Type: Percent, Min: bound(0), Max: bound(100), Doc: doc}
	}
	corr := func(name, of string) Param {
		return Param{Name: name, Type: Percent, Default: 0.0, Min: bound(0), Max: bound(100),
			Doc: "correlation of " + of + " with the previous packet's, in percent"}
	}
	latency := Param{Name: "latency", Type: Duration, Min: bound(0), Max: bound(60), Doc: "added delay per packet"}
	jitter := Param{Name: "jitter", Type: Duration, Default: time.Duration(0), Min: bound(0), Max: bound(60), Doc: "random variation of the delay"}
	rate := Param{Name: "rate", Type: BitRate, Min: bound(8), Doc: "throughput cap, e.g. \"1mbit\", \"500kbit\""}

	withNet := func(ps ...Param) []Param {
		return append(ps,
			Param{Name: "to", Type: Destinations, Doc: "only traffic to these CIDRs, IPs or targets (target.NAME); all traffic when absent"},
			Param{Name: "ports", Type: Ports, Doc: "only traffic to these destination ports (80, \"9000-9100\"); all ports when absent"},
			Param{Name: "interface", Type: String, Default: "", Doc: "interface inside the container: its first network's interface when empty, \"all\" for every non-loopback one"},
		)
	}
	netem := func(name, summary string, atLeastOne []string, ps ...Param) {
		register(Kind{Name: name, Category: NetworkFault, Holds: "qdisc", Summary: summary, AtLeastOne: atLeastOne, Params: withNet(ps...)})
	}

	req := func(p Param) Param { p.Required = true; return p }

	netem("delay", "Delay outgoing packets (netem).", nil,
		req(latency), jitter, corr("correlation", "the delay"))
	netem("loss", "Drop a share of outgoing packets (netem).", nil,
		req(pct("percent", "share of packets dropped")), corr("correlation", "loss"))
	netem("duplicate", "Duplicate a share of outgoing packets (netem).", nil,
		req(pct("percent", "share of packets duplicated")), corr("correlation", "duplication"))
	netem("corrupt", "Flip a random bit in a share of outgoing packets (netem).", nil,
		req(pct("percent", "share of packets corrupted")), corr("correlation", "corruption"))
	netem("reorder", "Send a share of outgoing packets at once while the rest wait for the delay (netem).", nil,
		req(pct("percent", "share of packets sent out of order")), corr("correlation", "reordering"),
		req(latency), // netem reorders only when the other packets are delayed
		Param{Name: "gap", Type: Int, Default: int64(0), Min: bound(0), Max: bound(1 << 20), Doc: "reorder every gap-th packet instead of at random (0: random)"})
	netem("rate", "Limit the rate of outgoing packets inside netem.", nil, req(rate))
	netem("netem", "Several netem impairments in one qdisc: any of delay, loss, duplicate, corrupt, reorder, rate.",
		[]string{"latency", "loss", "duplicate", "corrupt", "reorder", "rate"},
		latency, jitter, corr("delay_correlation", "the delay"),
		pct("loss", "share of packets dropped"), corr("loss_correlation", "loss"),
		pct("duplicate", "share of packets duplicated"),
		pct("corrupt", "share of packets corrupted"),
		pct("reorder", "share of packets sent out of order (needs latency)"), corr("reorder_correlation", "reordering"),
		rate)

	register(Kind{
		Name: "bandwidth", Category: NetworkFault, Holds: "qdisc",
		Summary: "Cap outgoing throughput with a token bucket (tbf).",
		Params: withNet(
			req(rate),
			Param{Name: "burst", Type: ByteSize, Min: bound(1), Doc: "bucket size; default: enough for the rate at the kernel's timer resolution, at least one MTU"},
			Param{Name: "limit", Type: ByteSize, Min: bound(1), Doc: "bytes that may queue waiting for tokens; default: 50ms worth at the rate"},
		),
	})
	register(Kind{
		Name: "partition", Category: NetworkFault, Holds: HoldsRoutes,
		Summary: "Cut traffic to CIDRs or other targets with blackhole routes in the container's namespace.",
		Params: []Param{
			{Name: "to", Type: Destinations, Required: true, Doc: "CIDRs, IPs or targets (target.NAME) to cut off"},
			{Name: "direction", Type: String, Default: "both", Enum: []string{"both", "egress"},
				Doc: "both: targets named in `to` also lose their route back; egress: only this side"},
		},
	})
}
