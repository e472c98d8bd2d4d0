package membership

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/hashicorp/memberlist"
)

// Key rotation without downtime runs in three cluster-wide steps, each
// confirmed by every alive member before the next:
//
//	InstallKey(new)  every member can decrypt with new, still encrypts with old
//	UseKey(new)      every member encrypts with new
//	RemoveKey(old)   old no longer decrypts anything
//
// The request travels as a memberlist user message over the encrypted
// gossip stream; each member applies it to its keyring and answers with its
// key fingerprints. Keys themselves never appear in results or logs.

// KeyOp is a keyring operation.
type KeyOp string

const (
	KeyInstall KeyOp = "install"
	KeyUse     KeyOp = "use"
	KeyRemove  KeyOp = "remove"
	KeyList    KeyOp = "list"
)

// KeyResult is one member's answer.
type KeyResult struct {
	Node    string
	Primary string   // fingerprint of the primary key
	Keys    []string // fingerprints of every installed key
	Err     string   // empty on success
}

// KeyFingerprint identifies a key without revealing it: the first 8 bytes
// of its SHA-256, hex.
func KeyFingerprint(key []byte) string {
	s := sha256.Sum256(key)
	return hex.EncodeToString(s[:8])
}

const (
	msgKeyRequest byte = 'K'
	msgKeyReply   byte = 'R'
)

type keyRequest struct {
	ID   string `json:"id"`
	From string `json:"from"`
	Op   KeyOp  `json:"op"`
	Key  []byte `json:"key,omitempty"`
}

type keyReply struct {
	ID     string    `json:"id"`
	Result KeyResult `json:"result"`
}

// InstallKey adds key to every member's keyring.
func (n *Node) InstallKey(ctx context.Context, key []byte) ([]KeyResult, error) {
	return n.keyOp(ctx, KeyInstall, key)
}

// UseKey makes key, already installed everywhere, the primary everywhere.
func (n *Node) UseKey(ctx context.Context, key []byte) ([]KeyResult, error) {
	return n.keyOp(ctx, KeyUse, key)
}

// RemoveKey removes a key that is no longer primary from every keyring.
func (n *Node) RemoveKey(ctx context.Context, key []byte) ([]KeyResult, error) {
	return n.keyOp(ctx, KeyRemove, key)
}

// ListKeys asks every member for its key fingerprints.
func (n *Node) ListKeys(ctx context.Context) ([]KeyResult, error) {
	return n.keyOp(ctx, KeyList, nil)
}

// keyOp applies op locally, sends it to every other alive member and waits
// for all of them to confirm or for ctx to end. The error names every
// member that failed or did not answer.
func (n *Node) keyOp(ctx context.Context, op KeyOp, key []byte) ([]KeyResult, error) {
	if n.keyring == nil {
		return nil, errors.New("membership: gossip runs without encryption (insecure); there is no keyring to change")
	}
	if op != KeyList {
		if err := memberlist.ValidateKey(key); err != nil {
			return nil, fmt.Errorf("membership: key is %d bytes: use 16, 24 or 32 bytes", len(key))
		}
	}
	local := n.applyKey(op, key)
	if local.Err != "" {
		return []KeyResult{local}, fmt.Errorf("membership: %s key on %s: %s", op, local.Node, local.Err)
	}
	id, replies, done := n.keys.add(64)
	defer done()
	req := keyRequest{ID: id, From: n.cfg.NodeName, Op: op, Key: key}
	body, _ := json.Marshal(req)
	msg := append([]byte{msgKeyRequest}, body...)

	results := []KeyResult{local}
	waiting := map[string]bool{}
	for _, m := range n.peers() {
		if err := n.ml.SendReliable(m, msg); err != nil {
			results = append(results, KeyResult{Node: m.Name, Err: "unreachable: " + err.Error()})
			continue
		}
		waiting[m.Name] = true
	}
	for len(waiting) > 0 {
		select {
		case r := <-replies:
			if waiting[r.Node] {
				delete(waiting, r.Node)
				results = append(results, r)
			}
		case <-ctx.Done():
			for name := range waiting {
				results = append(results, KeyResult{Node: name, Err: "no confirmation: " + ctx.Err().Error()})
			}
			waiting = nil
		}
	}
	slices.SortFunc(results, func(a, b KeyResult) int { return cmpString(a.Node, b.Node) })
	var failed []string
	for _, r := range results {
		if r.Err != "" {
			failed = append(failed, r.Node+" ("+r.Err+")")
		}
	}
	if len(failed) > 0 {
		return results, fmt.Errorf("membership: %s key not confirmed by %v", op, failed)
	}
	n.log.Info("gossip key operation confirmed by all members", "op", string(op), "key", KeyFingerprint(key), "members", len(results))
	return results, nil
}

func (n *Node) applyKey(op KeyOp, key []byte) KeyResult {
	var err error
	switch op {
	case KeyInstall:
		err = n.keyring.AddKey(key)
	case KeyUse:
		err = n.keyring.UseKey(key)
	case KeyRemove:
		err = n.keyring.RemoveKey(key)
	case KeyList:
	default:
		err = fmt.Errorf("unknown key operation %q", op)
	}
	r := KeyResult{Node: n.cfg.NodeName, Primary: KeyFingerprint(n.keyring.GetPrimaryKey())}
	for _, k := range n.keyring.GetKeys() {
		r.Keys = append(r.Keys, KeyFingerprint(k))
	}
	if err != nil {
		r.Err = err.Error()
	}
	return r
}

// handleKeyMsg runs on memberlist's receive path; it hands the work to a
// goroutine because answering means sending, which must not block gossip.
func (n *Node) handleKeyMsg(b []byte) {
	switch b[0] {
	case msgKeyRequest:
		var req keyRequest
		if err := json.Unmarshal(b[1:], &req); err != nil {
			n.log.Warn("unreadable key request", "err", err)
			return
		}
		go n.answerKey(req)
	case msgKeyReply:
		var rep keyReply
		if err := json.Unmarshal(b[1:], &rep); err != nil {
			n.log.Warn("unreadable key reply", "err", err)
			return
		}
		n.keys.deliver(rep.ID, rep.Result)
	}
}

func (n *Node) answerKey(req keyRequest) {
	if n.keyring == nil {
		return
	}
	res := n.applyKey(req.Op, req.Key)
	n.log.Info("gossip key operation", "op", string(req.Op), "from", req.From, "key", KeyFingerprint(req.Key), "err", res.Err)
	body, _ := json.Marshal(keyReply{ID: req.ID, Result: res})
	if to, ok := n.peer(req.From); ok {
		if err := n.ml.SendReliable(to, append([]byte{msgKeyReply}, body...)); err != nil {
			n.log.Warn("cannot confirm key operation", "to", req.From, "err", err)
		}
	}
}
