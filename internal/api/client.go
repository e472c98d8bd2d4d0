package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Client talks to one agent's API.
type Client struct {
	base  string
	token string
	http  *http.Client
	// where names the agent in errors, e.g. "the agent at /run/ec2ha/ec2ha.sock".
	where string
}

// NewClient returns a client for target: a Unix socket path, or an
// http(s):// URL for the TCP API (with its bearer token).
func NewClient(target, token string) *Client {
	if strings.HasPrefix(target, "http://") || strings.HasPrefix(target, "https://") {
		return &Client{base: strings.TrimSuffix(target, "/"), token: token, http: &http.Client{Timeout: 5 * time.Minute}, where: "the agent at " + target}
	}
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", target)
	}}
	return &Client{base: "http://ec2ha", token: token, http: &http.Client{Transport: tr, Timeout: 5 * time.Minute}, where: "the agent at " + target}
}

// Status returns the cluster status as the agent sees it.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	return st, c.do(ctx, http.MethodGet, "/v1/status", nil, &st)
}

// History returns up to limit events after seq.
func (c *Client) History(ctx context.Context, after uint64, limit int) ([]Event, error) {
	var ev []Event
	return ev, c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/history?after=%d&limit=%d", after, limit), nil, &ev)
}

func (c *Client) SetStandby(ctx context.Context, node string, on bool) error {
	op := "standby"
	if !on {
		op = "unstandby"
	}
	return c.do(ctx, http.MethodPost, "/v1/nodes/"+url.PathEscape(node)+"/"+op, nil, nil)
}

func (c *Client) SetMaintenance(ctx context.Context, on bool) error {
	state := "off"
	if on {
		state = "on"
	}
	return c.do(ctx, http.MethodPost, "/v1/maintenance/"+state, nil, nil)
}

func (c *Client) Move(ctx context.Context, group string, req MoveRequest) (MoveTicket, error) {
	var t MoveTicket
	return t, c.do(ctx, http.MethodPost, "/v1/groups/"+url.PathEscape(group)+"/move", req, &t)
}

func (c *Client) Fence(ctx context.Context, node string) (FenceResult, error) {
	var r FenceResult
	return r, c.do(ctx, http.MethodPost, "/v1/nodes/"+url.PathEscape(node)+"/fence", nil, &r)
}

func (c *Client) Unfence(ctx context.Context, node string) (FenceResult, error) {
	var r FenceResult
	return r, c.do(ctx, http.MethodPost, "/v1/nodes/"+url.PathEscape(node)+"/unfence", nil, &r)
}

func (c *Client) Keyring(ctx context.Context, req KeyringRequest) (KeyringResponse, error) {
	var r KeyringResponse
	return r, c.do(ctx, http.MethodPost, "/v1/keyring", req, &r)
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("cannot reach %s: is `ec2ha agent` running on this node? (%v)", c.where, err)
		}
		if errors.Is(err, syscall.EACCES) {
			return fmt.Errorf("cannot reach %s: permission denied; run as root (the socket is mode 0600)", c.where)
		}
		return fmt.Errorf("cannot reach %s: %w", c.where, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var e Error
		if json.NewDecoder(resp.Body).Decode(&e) == nil && e.Error != "" {
			return fmt.Errorf("%s", e.Error)
		}
		return fmt.Errorf("%s answered %s", c.where, resp.Status)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
