package faults

import (
	"fmt"
	"sort"
	"time"
)

// Category groups fault kinds by the mechanism that injects them.
type Category string

const (
	ContainerFault Category = "container" // Docker Engine API
	NetworkFault   Category = "network"   // netlink in the container's network namespace
)

// ParamType is the type of a fault parameter as written in an experiment.
type ParamType string

const (
	String       ParamType = "string"
	Bool         ParamType = "bool"
	Number       ParamType = "number"       // float64
	Int          ParamType = "int"          // int64
	Duration     ParamType = "duration"     // time.Duration, written "200ms", "1m30s"
	Percent      ParamType = "percent"      // float64 in [0,100], written 30 or "30%"
	ByteSize     ParamType = "bytes"        // int64 bytes, written "64m", "512MiB", 1048576
	BitRate      ParamType = "rate"         // uint64 bits per second, written "1mbit", "100kbit", "2gbit"
	Signal       ParamType = "signal"       // string: "SIGKILL", "KILL" or "9"
	Destinations ParamType = "destinations" // []Destination: CIDRs, IPs and target references
	Ports        ParamType = "ports"        // []PortRange: 80, "8080", "9000-9100"
)

// Param describes one parameter of a fault kind. Decoding, validation, the `faults`
// command and the docs all read these.
type Param struct {
	Name     string
	Type     ParamType
	Doc      string
	Required bool
	// Default is the value when the attribute is absent, already of the Go type the
	// ParamType decodes to (nil when there is none).
	Default any
	// Min and Max bound Number, Int, Percent, Duration (as seconds), ByteSize and BitRate
	// values; nil means unbounded.
	Min, Max *float64
	// Enum lists the allowed values of a String parameter.
	Enum []string
}

// Kind describes a fault kind.
type Kind struct {
	Name     string
	Category Category
	Summary  string
	// Instant kinds act once at their start (kill without restore, restart); the others
	// hold for their duration and are reverted at its end.
	Instant bool
	Params  []Param
	// Holds names what a fault of this kind takes over on its target while it holds:
	// "state" (running, paused, stopped), "limits" (CPU and memory), "qdisc" (the
	// root qdisc of the interface) or HoldsRoutes (the route to each destination in
	// `to`, and for a two-way partition each destination target's route back). Two
	// faults that hold the same thing cannot overlap on one target. Empty: nothing
	// exclusive.
	Holds string
	// AtLeastOne names parameters of which at least one must be set (resources: cpus or memory).
	AtLeastOne []string
}

// HoldsRoutes is the Holds of a partition: its blackhole routes, one per destination.
// Two partitions may overlap on a target as long as they cut different destinations.
const HoldsRoutes = "routes"

// Param returns the named parameter of the kind.
func (k Kind) Param(name string) (Param, bool) {
	for _, p := range k.Params {
		if p.Name == name {
			return p, true
		}
	}
	return Param{}, false
}

// Destination is one entry of a `to` list: a CIDR, or the containers of a target block.
type Destination struct {
	CIDR   string `json:"cidr,omitempty"`   // normalised "10.0.0.0/8" or "10.1.2.3/32"
	Target string `json:"target,omitempty"` // name of a target block
}

// PortRange is an inclusive range of TCP/UDP ports; a single port has From == To.
type PortRange struct {
	From uint16 `json:"from"`
	To   uint16 `json:"to"`
}

// Params holds the decoded parameters of one fault block, each already of the Go type
// its ParamType decodes to, with defaults filled in.
type Params map[string]any

func (p Params) String(name string) string          { v, _ := p[name].(string); return v }
func (p Params) Bool(name string) bool              { v, _ := p[name].(bool); return v }
func (p Params) Number(name string) float64         { v, _ := p[name].(float64); return v }
func (p Params) Int(name string) int64              { v, _ := p[name].(int64); return v }
func (p Params) Duration(name string) time.Duration { v, _ := p[name].(time.Duration); return v }
func (p Params) Bytes(name string) int64            { v, _ := p[name].(int64); return v }
func (p Params) Rate(name string) uint64            { v, _ := p[name].(uint64); return v }
func (p Params) Destinations(name string) []Destination {
	v, _ := p[name].([]Destination)
	return v
}
func (p Params) Ports(name string) []PortRange { v, _ := p[name].([]PortRange); return v }

// Has reports whether the parameter was set or has a default.
func (p Params) Has(name string) bool { _, ok := p[name]; return ok }

var registry = map[string]Kind{}

func register(k Kind) {
	if _, dup := registry[k.Name]; dup {
		panic(fmt.Sprintf("fault kind %q registered twice", k.Name))
	}
	registry[k.Name] = k
}

// Lookup returns the kind with the given name.
func Lookup(name string) (Kind, bool) {
	k, ok := registry[name]
	return k, ok
}

// Kinds returns every registered kind, containers first, then by name.
func Kinds() []Kind {
	out := make([]Kind, 0, len(registry))
	for _, k := range registry {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Category != out[j].Category {
			return out[i].Category < out[j].Category
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// KindNames returns the names of every registered kind, sorted.
func KindNames() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func bound(v float64) *float64 { return &v }
