package experiments

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

var prometheusSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "url", Required: true},
		{Name: "bearer_token_file"}, {Name: "bearer_token_env"},
		{Name: "headers"}, {Name: "timeout"}, {Name: "loss_grace"},
		// Secrets in plain text, listed to explain why they are refused.
		{Name: "bearer_token"}, {Name: "password"}, {Name: "token"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "basic_auth"}, {Type: "tls"}},
}

var basicAuthSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "username", Required: true}, {Name: "password_file", Required: true},
		{Name: "password"},
	},
}

var tlsSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "ca_file"}, {Name: "cert_file"}, {Name: "key_file"},
		{Name: "server_name"}, {Name: "insecure_skip_verify"},
	},
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func plainSecret(attr *hcl.Attribute, instead string) *hcl.Diagnostic {
	return rangeError(attr.NameRange, "Secret in plain text",
		fmt.Sprintf("%s is not accepted: an experiment file is shared and versioned, and a secret in it leaks. %s", attr.Name, instead))
}

func (l *loader) decodePrometheusBlock(b *hcl.Block) (*Prometheus, hcl.Diagnostics) {
	content, diags := b.Body.Content(prometheusSchema)
	p := &Prometheus{Timeout: DefaultTimeout, LossGrace: DefaultLossGrace, DeclRange: b.DefRange}
	a := content.Attributes
	for _, name := range []string{"bearer_token", "token"} {
		if attr, ok := a[name]; ok {
			diags = append(diags, plainSecret(attr, "Put the token in a file and set bearer_token_file, or in an environment variable and set bearer_token_env to its name."))
		}
	}
	if attr, ok := a["password"]; ok {
		diags = append(diags, plainSecret(attr, "Use a basic_auth { username = \"...\", password_file = \"...\" } block with the password in a file."))
	}
	if attr, ok := a["url"]; ok {
		if s, ok, d := l.str(attr); ok {
			u, err := url.Parse(s)
			switch {
			case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
				diags = append(diags, attrError(attr, "Invalid Prometheus URL",
					fmt.Sprintf("%q is not an http or https URL; write the server's base URL, such as \"http://127.0.0.1:9090\".", s)))
			case u.User != nil:
				diags = append(diags, attrError(attr, "Secret in plain text",
					"The URL holds a user name or password; use a basic_auth block with password_file instead."))
			default:
				p.URL = strings.TrimRight(s, "/")
			}
		} else {
			diags = append(diags, d...)
		}
	}
	if attr, ok := a["bearer_token_file"]; ok {
		p.BearerTokenFile = l.strInto(&diags, attr)
	}
	if attr, ok := a["bearer_token_env"]; ok {
		if s, ok, d := l.str(attr); ok {
			if !envName.MatchString(s) {
				diags = append(diags, attrError(attr, "Invalid environment variable name",
					fmt.Sprintf("bearer_token_env names the environment variable that holds the token, such as \"PROM_TOKEN\"; %q is not a name.", s)))
			} else {
				p.BearerTokenEnv = s
			}
		} else {
			diags = append(diags, d...)
		}
	}
	if attr, ok := a["headers"]; ok {
		var headers map[string]string
		headers, _, diags = l.stringMapInto(diags, attr)
		for k := range headers {
			if strings.EqualFold(k, "Authorization") {
				diags = append(diags, attrError(attr, "Secret in plain text",
					"An Authorization header holds a credential; use bearer_token_file, bearer_token_env or basic_auth instead."))
				delete(headers, k)
			}
		}
		p.Headers = headers
	}
	if attr, ok := a["timeout"]; ok {
		if d, ok, more := l.duration(attr); ok {
			if d == 0 {
				diags = append(diags, attrError(attr, "Invalid timeout", "timeout bounds each query and must be greater than 0, such as \"10s\"."))
			}
			p.Timeout = d
		} else {
			diags = append(diags, more...)
		}
	}
	if attr, ok := a["loss_grace"]; ok {
		if d, ok, more := l.duration(attr); ok {
			p.LossGrace = d
		} else {
			diags = append(diags, more...)
		}
	}
	var authBlock *hcl.Block
	for _, blk := range content.Blocks {
		switch blk.Type {
		case "basic_auth":
			if p.BasicAuth != nil {
				diags = append(diags, rangeError(blk.DefRange, "Duplicate basic_auth block", "Give one basic_auth block."))
				continue
			}
			authBlock = blk
			ba, d := l.decodeBasicAuthBlock(blk)
			p.BasicAuth, diags = ba, append(diags, d...)
		case "tls":
			if p.TLS != nil {
				diags = append(diags, rangeError(blk.DefRange, "Duplicate tls block", "Give one tls block."))
				continue
			}
			t, d := l.decodeTLSBlock(blk)
			p.TLS, diags = t, append(diags, d...)
		}
	}
	methods := 0
	for _, set := range []bool{p.BearerTokenFile != "", p.BearerTokenEnv != "", authBlock != nil} {
		if set {
			methods++
		}
	}
	if methods > 1 {
		diags = append(diags, rangeError(b.DefRange, "Conflicting Prometheus credentials",
			"Set one of bearer_token_file, bearer_token_env or a basic_auth block, not several: only one Authorization header is sent."))
	}
	return p, diags
}

func (l *loader) decodeBasicAuthBlock(b *hcl.Block) (*BasicAuth, hcl.Diagnostics) {
	content, diags := b.Body.Content(basicAuthSchema)
	ba := &BasicAuth{}
	if attr, ok := content.Attributes["password"]; ok {
		diags = append(diags, plainSecret(attr, "Put the password in a file and set password_file to its path."))
	}
	if attr, ok := content.Attributes["username"]; ok {
		ba.Username = l.strInto(&diags, attr)
	}
	if attr, ok := content.Attributes["password_file"]; ok {
		ba.PasswordFile = l.strInto(&diags, attr)
	}
	return ba, diags
}

func (l *loader) decodeTLSBlock(b *hcl.Block) (*TLS, hcl.Diagnostics) {
	content, diags := b.Body.Content(tlsSchema)
	t := &TLS{}
	a := content.Attributes
	for name, dst := range map[string]*string{"ca_file": &t.CAFile, "cert_file": &t.CertFile, "key_file": &t.KeyFile, "server_name": &t.ServerName} {
		if attr, ok := a[name]; ok {
			*dst = l.strInto(&diags, attr)
		}
	}
	if attr, ok := a["insecure_skip_verify"]; ok {
		v, _, d := l.boolean(attr)
		t.InsecureSkipVerify, diags = v, append(diags, d...)
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		diags = append(diags, rangeError(b.DefRange, "Incomplete client certificate",
			"A client certificate needs both cert_file and key_file."))
	}
	return t, diags
}
