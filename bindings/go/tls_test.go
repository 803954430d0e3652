package proglog_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	proglog "github.com/proglog/proglog/bindings/go"
)

// The original proglog's casbin model and policy: root may produce and consume.
const (
	modelConf = `[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = r.sub == p.sub && r.obj == p.obj && r.act == p.act
`
	policyCSV = "p, root, *, produce\np, root, *, consume\n"
	// Every refused call must end within this deadline, never hang.
	tlsCallTimeout = 5 * time.Second
)

type keyPair struct{ cert, key string }

// pki holds certificates made by the openssl command line alone.
type pki struct {
	ca, otherCA, server, root, nobody, otherRoot keyPair
}

func runOpenSSL(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command("openssl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

var ecKey = []string{"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"}

func makeCA(t *testing.T, dir, name string) keyPair {
	p := keyPair{filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")}
	args := append([]string{"req", "-x509"}, ecKey...)
	runOpenSSL(t, append(args, "-keyout", p.key, "-out", p.cert, "-days", "1",
		"-subj", "/CN="+name, "-addext", "basicConstraints=critical,CA:TRUE",
		"-addext", "keyUsage=critical,keyCertSign,cRLSign")...)
	return p
}

func issue(t *testing.T, dir string, ca keyPair, cn, usage, san string) keyPair {
	stem := filepath.Join(dir, cn+"-"+usage+"-"+strings.TrimSuffix(filepath.Base(ca.cert), ".pem"))
	p := keyPair{stem + ".pem", stem + "-key.pem"}
	args := append([]string{"req", "-new"}, ecKey...)
	runOpenSSL(t, append(args, "-keyout", p.key, "-out", stem+".csr", "-subj", "/CN="+cn)...)
	ext := "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=" + usage + "\n"
	if san != "" {
		ext += "subjectAltName=" + san + "\n"
	}
	if err := os.WriteFile(stem+".ext", []byte(ext), 0o600); err != nil {
		t.Fatal(err)
	}
	runOpenSSL(t, "x509", "-req", "-in", stem+".csr", "-CA", ca.cert, "-CAkey", ca.key,
		"-CAcreateserial", "-days", "1", "-extfile", stem+".ext", "-out", p.cert)
	return p
}

// testPKI makes a cluster CA with a server and two client certificates, and
// another CA with its own "root".
func testPKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	ca := makeCA(t, dir, "cluster-ca")
	other := makeCA(t, dir, "other-ca")
	return pki{
		ca: ca, otherCA: other,
		server:    issue(t, dir, ca, "server", "serverAuth", "IP:127.0.0.1"),
		root:      issue(t, dir, ca, "root", "clientAuth", ""),
		nobody:    issue(t, dir, ca, "nobody", "clientAuth", ""),
		otherRoot: issue(t, dir, other, "root", "clientAuth", ""),
	}
}

// startSecureServer runs the real binary with mutual TLS and the ACL.
func startSecureServer(t *testing.T, p pki) string {
	t.Helper()
	if os.Getenv("PROGLOG_BIN") == "" {
		t.Fatal("PROGLOG_BIN must name the built proglog binary: TLS needs the real server")
	}
	dir := t.TempDir()
	model, policy := filepath.Join(dir, "model.conf"), filepath.Join(dir, "policy.csv")
	if err := os.WriteFile(model, []byte(modelConf), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(policy, []byte(policyCSV), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startBinary(t, "--server-tls-cert-file", p.server.cert,
		"--server-tls-key-file", p.server.key, "--server-tls-ca-file", p.ca.cert,
		"--acl-model-file", model, "--acl-policy-file", policy)
	return srv.addr
}

func dialTLS(t *testing.T, addr string, cfg proglog.TLSConfig) *proglog.Client {
	t.Helper()
	client, err := proglog.Dial(context.Background(), []string{addr},
		proglog.WithTimeout(tlsCallTimeout), proglog.WithTLS(cfg))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { client.Close() })
	return client
}

func TestTLSAndACL(t *testing.T) {
	p := testPKI(t)
	addr := startSecureServer(t, p)
	ctx := context.Background()
	asRoot := proglog.TLSConfig{CAFile: p.ca.cert, CertFile: p.root.cert, KeyFile: p.root.key}

	t.Run("RootProducesConsumesAndStreams", func(t *testing.T) {
		client := dialTLS(t, addr, asRoot)
		first, err := client.Produce(ctx, []byte("over tls"))
		if err != nil {
			t.Fatalf("Produce: %v", err)
		}
		if rec, err := client.Consume(ctx, first); err != nil || string(rec.Value) != "over tls" {
			t.Fatalf("Consume: %+v, %v", rec, err)
		}
		batch, err := client.ProduceBatch(ctx, [][]byte{[]byte("a"), []byte("b")})
		if err != nil || len(batch) != 2 || batch[0] != first+1 || batch[1] != first+2 {
			t.Fatalf("ProduceBatch: %v, %v", batch, err)
		}
		streamCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		stream, err := client.Stream(streamCtx, first)
		if err != nil {
			t.Fatal(err)
		}
		defer stream.Close()
		for i, want := range []string{"over tls", "a", "b"} {
			rec, err := stream.Next(ctx)
			if err != nil || string(rec.Value) != want || rec.Offset != first+uint64(i) {
				t.Fatalf("Next %d: %+v, %v", i, rec, err)
			}
		}
		tail, err := client.Produce(ctx, []byte("tail"))
		if err != nil {
			t.Fatal(err)
		}
		if rec, err := stream.Next(ctx); err != nil || rec.Offset != tail || string(rec.Value) != "tail" {
			t.Fatalf("Next after the tail grew: %+v, %v", rec, err)
		}
	})

	t.Run("ServerNameIsVerified", func(t *testing.T) {
		named := asRoot
		named.ServerName = "127.0.0.1"
		if _, err := dialTLS(t, addr, named).Produce(ctx, []byte("named")); err != nil {
			t.Fatalf("Produce with the SAN as server name: %v", err)
		}
		named.ServerName = "not-the-server"
		_, err := dialTLS(t, addr, named).Produce(ctx, []byte("x"))
		expectRefused(t, err)
	})

	t.Run("NobodyIsDeniedWithItsSubjectNamed", func(t *testing.T) {
		root := dialTLS(t, addr, asRoot)
		offset, err := root.Produce(ctx, []byte("secret"))
		if err != nil {
			t.Fatal(err)
		}
		client := dialTLS(t, addr, proglog.TLSConfig{
			CAFile: p.ca.cert, CertFile: p.nobody.cert, KeyFile: p.nobody.key})
		_, err = client.Produce(ctx, []byte("denied"))
		var perr *proglog.Error
		if !errors.Is(err, proglog.ErrPermissionDenied) || !errors.As(err, &perr) ||
			!strings.Contains(perr.Message, "nobody") || perr.Retryable {
			t.Fatalf("Produce as nobody: %v", err)
		}
		if _, err := client.Consume(ctx, offset); !errors.Is(err, proglog.ErrPermissionDenied) ||
			!strings.Contains(err.Error(), "nobody") {
			t.Fatalf("Consume as nobody: %v", err)
		}
		if _, err := client.ProduceBatch(ctx, [][]byte{[]byte("x")}); !errors.Is(err, proglog.ErrPermissionDenied) {
			t.Fatalf("ProduceBatch as nobody: %v", err)
		}
		stream, err := client.Stream(ctx, offset)
		if err == nil {
			defer stream.Close()
			_, err = stream.Next(ctx)
		}
		if !errors.Is(err, proglog.ErrPermissionDenied) {
			t.Fatalf("Stream as nobody: %v", err)
		}
		// The denied writes left nothing behind.
		if _, err := root.Consume(ctx, offset+1); !errors.Is(err, proglog.ErrOffsetOutOfRange) {
			t.Fatalf("Consume after the denied writes: %v", err)
		}
	})

	refused := map[string]proglog.TLSConfig{
		"NoClientCertificate":      {CAFile: p.ca.cert},
		"CertificateFromAnotherCA": {CAFile: p.ca.cert, CertFile: p.otherRoot.cert, KeyFile: p.otherRoot.key},
		"ServerCAIsNotTrusted":     {CAFile: p.otherCA.cert, CertFile: p.root.cert, KeyFile: p.root.key},
	}
	for name, cfg := range refused {
		t.Run(name, func(t *testing.T) {
			client := dialTLS(t, addr, cfg)
			_, err := client.Produce(ctx, []byte("refused"))
			expectRefused(t, err)
			_, err = client.Consume(ctx, 0)
			expectRefused(t, err)
		})
	}

	t.Run("PlaintextClientIsRefused", func(t *testing.T) {
		client, err := proglog.Dial(ctx, []string{addr}, proglog.WithTimeout(tlsCallTimeout))
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		_, err = client.Produce(ctx, []byte("plain"))
		expectRefused(t, err)
	})

	t.Run("MissingCAFileIsAClearError", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "no-such-ca.pem")
		client, err := proglog.Dial(ctx, []string{addr}, proglog.WithTimeout(tlsCallTimeout),
			proglog.WithTLS(proglog.TLSConfig{CAFile: missing}))
		if err == nil {
			defer client.Close()
			_, err = client.Produce(ctx, []byte("x"))
		}
		if err == nil || !strings.Contains(err.Error(), "no-such-ca.pem") {
			t.Fatalf("missing CA file: %v", err)
		}
	})
}

// expectRefused checks that a TLS failure is reported as such: unavailable or
// unauthenticated, never a timeout (a hang cut short) nor success.
func expectRefused(t *testing.T, err error) {
	t.Helper()
	t.Logf("refused: %v", err)
	if !errors.Is(err, proglog.ErrUnavailable) && !errors.Is(err, proglog.ErrUnauthenticated) {
		t.Fatalf("want ErrUnavailable or ErrUnauthenticated, got %v", err)
	}
}

// writeACL writes the model and the given policy into dir.
// replaceFile swaps path's content in one step (a new file renamed over it), as
// editors do: the node's file watcher may reload at any moment, and a file
// rewritten in place can be read half-written (empty, say, which parses).
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	next := path + ".next"
	if err := os.WriteFile(next, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(next, path); err != nil {
		t.Fatal(err)
	}
}

func writeACL(t *testing.T, dir, policy string) (string, string) {
	t.Helper()
	model, policyFile := filepath.Join(dir, "model.conf"), filepath.Join(dir, "policy.csv")
	if err := os.WriteFile(model, []byte(modelConf), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(policyFile, []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	return model, policyFile
}

func TestEmbeddedNodeServesMutualTLSWithItsACL(t *testing.T) {
	p := testPKI(t)
	dir := t.TempDir()
	model, policy := writeACL(t, dir, policyCSV)
	node, err := proglog.OpenNode(proglog.NodeConfig{
		DataDir: filepath.Join(dir, "data"),
		Security: &proglog.SecurityConfig{
			ServerTLSCertFile: p.server.cert, ServerTLSKeyFile: p.server.key,
			ServerTLSCAFile: p.ca.cert, ACLModelFile: model, ACLPolicyFile: policy,
		},
	})
	if err != nil {
		t.Fatalf("OpenNode: %v", err)
	}
	defer node.Close()
	ctx := context.Background()
	root := dialTLS(t, node.Addr(), proglog.TLSConfig{
		CAFile: p.ca.cert, CertFile: p.root.cert, KeyFile: p.root.key})
	offset, err := root.Produce(ctx, []byte("embedded"))
	if err != nil {
		t.Fatalf("Produce as root: %v", err)
	}
	nobody := dialTLS(t, node.Addr(), proglog.TLSConfig{
		CAFile: p.ca.cert, CertFile: p.nobody.cert, KeyFile: p.nobody.key})
	if _, err := nobody.Consume(ctx, offset); !errors.Is(err, proglog.ErrPermissionDenied) {
		t.Fatalf("Consume as nobody: %v", err)
	}
	plain, err := proglog.Dial(ctx, []string{node.Addr()}, proglog.WithTimeout(tlsCallTimeout))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	_, err = plain.Consume(ctx, offset)
	expectRefused(t, err)

	// The ACL reloads; a policy that does not parse leaves the old one.
	replaceFile(t, policy, policyCSV+"p, nobody, *, consume\n")
	if err := node.ReloadACL(); err != nil {
		t.Fatalf("ReloadACL: %v", err)
	}
	if rec, err := nobody.Consume(ctx, offset); err != nil || string(rec.Value) != "embedded" {
		t.Fatalf("Consume as nobody after the reload: %+v, %v", rec, err)
	}
	replaceFile(t, policy, "p, nobody\n")
	if err := node.ReloadACL(); !errors.Is(err, proglog.ErrInvalidArgument) {
		t.Fatalf("ReloadACL of a broken policy: %v", err)
	}
	if _, err := nobody.Consume(ctx, offset); err != nil {
		t.Fatalf("the previous policy must stay: %v", err)
	}
}

func TestEmbeddedNodeWithAPartialTLSSetIsRefused(t *testing.T) {
	p := testPKI(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	_, err := proglog.OpenNode(proglog.NodeConfig{
		DataDir: dataDir, Security: &proglog.SecurityConfig{ServerTLSCertFile: p.server.cert}})
	if !errors.Is(err, proglog.ErrInvalidArgument) || !strings.Contains(err.Error(), "server_tls_key_file") {
		t.Fatalf("OpenNode with a certificate only: %v", err)
	}
	if _, statErr := os.Stat(dataDir); !os.IsNotExist(statErr) {
		t.Fatalf("the data dir was created: %v", statErr)
	}
}
