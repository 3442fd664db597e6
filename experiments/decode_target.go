package experiments

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

var targetSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "name"}, {Name: "labels"}, {Name: "image"},
		{Name: "compose_project"}, {Name: "compose_service"},
		{Name: "state"}, {Name: "pick"}, {Name: "allow_empty"},
	},
}

// ContainerStates are the states a target may select, as Docker names them.
var ContainerStates = []string{"created", "running", "paused", "restarting", "exited", "dead"}

func (l *loader) decodeTargetBlock(b *hcl.Block) (*Target, hcl.Diagnostics) {
	content, diags := b.Body.Content(targetSchema)
	t := &Target{Name: b.Labels[0], State: "running", Pick: PickAll, DeclRange: b.DefRange}
	a := content.Attributes
	if attr, ok := a["name"]; ok {
		if s, ok, d := l.str(attr); ok {
			if _, err := regexp.Compile(s); err != nil {
				diags = append(diags, attrError(attr, "Invalid name pattern",
					fmt.Sprintf("name is a regular expression on container names: %v. Escape special characters, such as \"shop\\\\.db\".", err)))
			} else if s == "" {
				diags = append(diags, attrError(attr, "Empty name pattern", "An empty pattern matches every container; write one such as \"^shop-db-[0-9]+$\"."))
			} else {
				t.NameRegex = s
			}
		} else {
			diags = append(diags, d...)
		}
	}
	if attr, ok := a["labels"]; ok {
		t.Labels, _, diags = l.stringMapInto(diags, attr)
	}
	for name, dst := range map[string]*string{"image": &t.Image, "compose_project": &t.ComposeProject, "compose_service": &t.ComposeService} {
		if attr, ok := a[name]; ok {
			*dst = l.strInto(&diags, attr)
		}
	}
	if attr, ok := a["state"]; ok {
		if s, ok, d := l.str(attr); ok {
			if !contains(ContainerStates, s) {
				diags = append(diags, attrError(attr, "Invalid container state",
					fmt.Sprintf("state %q is not a Docker container state%s; use one of %s.", s, suggestion(s, ContainerStates), strings.Join(ContainerStates, ", "))))
			} else {
				t.State = s
			}
		} else {
			diags = append(diags, d...)
		}
	}
	if attr, ok := a["pick"]; ok {
		diags = append(diags, l.decodePick(attr, t)...)
	}
	if attr, ok := a["allow_empty"]; ok {
		v, _, d := l.boolean(attr)
		t.AllowEmpty, diags = v, append(diags, d...)
	}
	if len(diags) == 0 && t.NameRegex == "" && len(t.Labels) == 0 && t.Image == "" && t.ComposeProject == "" && t.ComposeService == "" {
		diags = append(diags, rangeError(b.DefRange, "Target without selector",
			"A target needs at least one of name, labels, image, compose_project or compose_service; without one it would select every container on the host."))
	}
	return t, diags
}

var percentPick = regexp.MustCompile(`^\s*([0-9]+(?:\.[0-9]+)?)\s*%\s*$`)

func (l *loader) decodePick(attr *hcl.Attribute, t *Target) hcl.Diagnostics {
	val, ok, diags := l.value(attr)
	if !ok {
		return diags
	}
	bad := attrError(attr, "Invalid pick",
		"pick is \"all\", \"one\", a count such as 2, or a share such as \"30%\".")
	var s string
	switch val.Type() {
	case cty.Number:
		s = val.AsBigFloat().Text('f', -1)
	case cty.String:
		s = strings.TrimSpace(val.AsString())
	default:
		return append(diags, bad)
	}
	switch {
	case s == PickAll || s == PickOne:
		t.Pick = s
	case percentPick.MatchString(s):
		v, _ := strconv.ParseFloat(percentPick.FindStringSubmatch(s)[1], 64)
		if v <= 0 || v > 100 {
			return append(diags, attrError(attr, "Invalid pick", fmt.Sprintf("A share of targets is more than 0%% and at most 100%%, not %s.", s)))
		}
		t.Pick, t.Percent = PickPercent, v
	default:
		n, err := strconv.Atoi(s)
		if err != nil {
			return append(diags, bad)
		}
		if n < 1 {
			return append(diags, attrError(attr, "Invalid pick", fmt.Sprintf("A count of targets is at least 1, not %d.", n)))
		}
		t.Pick, t.Count = PickCount, n
	}
	return diags
}
