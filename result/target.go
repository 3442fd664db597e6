package result

// Target is one container a target block resolved to, as the plan saw it.
type Target struct {
	ID     string            `json:"id"`
	Name   string            `json:"name"`
	Image  string            `json:"image"`
	Labels map[string]string `json:"labels,omitempty"`
	State  string            `json:"state"`
	// PID of the container's init process when the plan was made.
	PID      int       `json:"pid,omitempty"`
	Networks []Network `json:"networks,omitempty"`
	// Group is the name of the experiment's target block this container was picked for.
	Group string `json:"group,omitempty"`
}

// Network is one Docker network the container was attached to.
type Network struct {
	Name       string `json:"name"`
	IP         string `json:"ip,omitempty"`
	PrefixLen  int    `json:"prefix_len,omitempty"`
	Gateway    string `json:"gateway,omitempty"`
	MacAddress string `json:"mac,omitempty"`
}

// ShortID is the 12-character container id Docker shows.
func (t Target) ShortID() string {
	if len(t.ID) > 12 {
		return t.ID[:12]
	}
	return t.ID
}
