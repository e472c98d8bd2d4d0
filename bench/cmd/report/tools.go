package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// pyTools is how this machine runs ClusterLabs' fence_aws and the
// resource agents awseip/awsvip against the simulator, or why it cannot.
type pyTools struct {
	Python      string // interpreter running fence_aws
	PythonPath  string // extra PYTHONPATH (a directory with Debian's pycurl), or ""
	Botocore    string
	FenceAWS    string
	FenceAWSErr error // why fence_aws cannot run
	AWSCLI      string
	AWSVersion  string
	RADir       string
	RAErr       error // why awseip/awsvip cannot run
	Versions    map[string]string
	Notes       []string
	tmp         string
	cfg, creds  string
	RAAPIDelay  int
}

const (
	fenceAWSPath = "/usr/sbin/fence_aws"
	raDir        = "/usr/lib/ocf/resource.d/heartbeat"
)

// botocore honours AWS_ENDPOINT_URL from 1.31 (the AWS CLI v1 from 1.29):
// an older one sends fence_aws to the real ec2.us-east-1.amazonaws.com,
// which fails with "Incorrect Region".
func botocoreOK(v string) bool {
	p := strings.Split(v, ".")
	if len(p) < 2 {
		return false
	}
	major, _ := strconv.Atoi(p[0])
	minor, _ := strconv.Atoi(p[1])
	return major > 1 || (major == 1 && minor >= 31)
}

func output(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// findTools looks for the tools and a Python whose botocore can be pointed
// at the simulator. Nothing is installed here; bench/setup-tools.sh does.
func findTools(tmp string, apiDelay int) *pyTools {
	t := &pyTools{tmp: tmp, Versions: map[string]string{}, RAAPIDelay: apiDelay}
	for _, pkg := range []string{"fence-agents", "fence-agents-aws", "resource-agents", "python3-boto3", "python3-botocore"} {
		if v, err := output("dpkg-query", "-W", "-f", "${Version}", pkg); err == nil && v != "" {
			t.Versions[pkg] = v
		}
	}

	// The interpreter: BENCH_PYTHON, then python3 on PATH, then Debian's.
	var cands []string
	if p := os.Getenv("BENCH_PYTHON"); p != "" {
		cands = append(cands, p)
	}
	if p, err := exec.LookPath("python3"); err == nil {
		if real, err := output("pyenv", "which", "python3"); err == nil && strings.Contains(p, "shims") {
			p = real
		}
		cands = append(cands, p)
	}
	cands = append(cands, "/usr/bin/python3")
	var tried []string
	for _, py := range cands {
		v, err := output(py, "-c", "import botocore, boto3, requests, pexpect; print(botocore.__version__)")
		if err != nil {
			tried = append(tried, fmt.Sprintf("%s: %s", py, lastLine(v)))
			continue
		}
		if !botocoreOK(v) {
			tried = append(tried, fmt.Sprintf("%s: botocore %s ignores AWS_ENDPOINT_URL (needs ≥ 1.31)", py, v))
			continue
		}
		t.Python, t.Botocore = py, v
		break
	}
	switch {
	case !fileExists(fenceAWSPath):
		t.FenceAWSErr = fmt.Errorf("%s is not installed (Debian: apt-get install fence-agents; bench/setup-tools.sh)", fenceAWSPath)
	case t.Python == "":
		t.FenceAWSErr = fmt.Errorf("no Python with boto3, requests, pexpect and botocore ≥ 1.31 to point at the simulator: %s", strings.Join(tried, "; "))
	default:
		t.FenceAWS = fenceAWSPath
		// fence_aws imports the fence library, which imports pycurl (unused
		// by fence_aws). If this Python lacks it, Debian's python3-pycurl
		// is made importable when it was built for the same Python ABI.
		if _, err := output(t.Python, "-c", "import pycurl"); err != nil {
			if dir, note, err := pycurlShim(t.Python, tmp); err != nil {
				t.FenceAWSErr = err
				t.FenceAWS = ""
			} else {
				t.PythonPath = dir
				t.Notes = append(t.Notes, note)
			}
		}
	}

	// The AWS CLI the resource agents call.
	aws := os.Getenv("BENCH_AWSCLI")
	if aws == "" {
		if p, err := exec.LookPath("aws"); err == nil {
			aws = p
			if real, err := output("pyenv", "which", "aws"); err == nil && strings.Contains(p, "shims") {
				aws = real
			}
		}
	}
	switch {
	case !fileExists(filepath.Join(raDir, "awseip")) || !fileExists(filepath.Join(raDir, "awsvip")):
		t.RAErr = fmt.Errorf("%s/awseip and awsvip are not installed (Debian: apt-get install resource-agents; bench/setup-tools.sh)", raDir)
	case aws == "":
		t.RAErr = errors.New("no `aws` CLI on PATH (BENCH_AWSCLI names one); awseip and awsvip call it for every step")
	default:
		t.AWSCLI = aws
		t.AWSVersion, _ = output(aws, "--version")
	}

	// One AWS CLI profile, as the resource agents pass --profile default.
	t.cfg = filepath.Join(tmp, "aws-config")
	t.creds = filepath.Join(tmp, "aws-credentials")
	_ = os.WriteFile(t.cfg, []byte("[default]\nregion = "+region+"\noutput = json\n"), 0o600)
	_ = os.WriteFile(t.creds, []byte("[default]\naws_access_key_id = AKIDSIMULATOR\naws_secret_access_key = simulator-secret\n"), 0o600)
	return t
}

func pycurlShim(py, tmp string) (dir, note string, err error) {
	soabi, err := output(py, "-c", "import sysconfig; print(sysconfig.get_config_var('SOABI'))")
	if err != nil {
		return "", "", fmt.Errorf("%s: %v", py, err)
	}
	so := filepath.Join("/usr/lib/python3/dist-packages", "pycurl."+soabi+".so")
	if !fileExists(so) {
		return "", "", fmt.Errorf("fence_aws imports pycurl through /usr/share/fence/fencing.py; %s has none and no Debian build for %s (%s) exists", py, soabi, so)
	}
	dir = filepath.Join(tmp, "pycurl")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	if err := os.Symlink(so, filepath.Join(dir, filepath.Base(so))); err != nil && !os.IsExist(err) {
		return "", "", err
	}
	return dir, fmt.Sprintf("%s has no pycurl (imported, unused, by fence_aws's fence library): Debian's %s, built for the same ABI, is put on PYTHONPATH", py, so), nil
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// env is the environment of one tool run "on" the instance whose IMDS
// listener is self: the EC2 endpoint, a profile, and an HTTP proxy that
// sends the tools' requests to http://169.254.169.254 (hard-coded in
// fence_aws, awseip and awsvip) to that instance's simulated IMDS.
// Loopback, where the EC2 endpoint is, bypasses the proxy.
func (t *pyTools) env(e *simEnv, self instance, extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "AWS_"), strings.EqualFold(k, "http_proxy"), strings.EqualFold(k, "https_proxy"),
			strings.EqualFold(k, "no_proxy"), k == "PYTHONPATH":
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		"AWS_ENDPOINT_URL="+e.URL, "AWS_DEFAULT_REGION="+region, "AWS_REGION="+region,
		"AWS_CONFIG_FILE="+t.cfg, "AWS_SHARED_CREDENTIALS_FILE="+t.creds,
		"AWS_EC2_METADATA_SERVICE_ENDPOINT="+self.IMDS+"/",
		"http_proxy="+self.IMDS, "no_proxy=127.0.0.1,localhost", "NO_PROXY=127.0.0.1,localhost")
	if t.PythonPath != "" {
		env = append(env, "PYTHONPATH="+t.PythonPath)
	}
	return append(env, extra...)
}

// toolRun is one timed process run.
type toolRun struct {
	Took   time.Duration
	Exit   int
	Output string
}

func runTool(ctx context.Context, env []string, name string, args ...string) toolRun {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	start := time.Now()
	err := cmd.Run()
	r := toolRun{Took: time.Since(start), Output: strings.TrimSpace(buf.String())}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.Exit = ee.ExitCode()
	case err != nil:
		r.Exit, r.Output = -1, err.Error()
	}
	return r
}

// fenceAWS runs `fence_aws --action off` on self against target.
func (t *pyTools) fenceAWS(ctx context.Context, e *simEnv, self instance, target string) toolRun {
	return runTool(ctx, t.env(e, self), t.Python, t.FenceAWS, "--region", region, "--action", "off", "--plug", target)
}

// ra runs a resource agent action on self.
func (t *pyTools) ra(ctx context.Context, e *simEnv, self instance, agent, action string, params map[string]string) toolRun {
	extra := []string{"OCF_ROOT=/usr/lib/ocf", "OCF_RESKEY_awscli=" + t.AWSCLI, "OCF_RESOURCE_INSTANCE=bench-" + agent,
		"OCF_RESKEY_api_delay=" + strconv.Itoa(t.RAAPIDelay)}
	for k, v := range params {
		extra = append(extra, "OCF_RESKEY_"+k+"="+v)
	}
	return runTool(ctx, t.env(e, self, extra...), filepath.Join(raDir, agent), action)
}

// awsCall runs one AWS CLI command, the unit every resource agent step is
// made of.
func (t *pyTools) awsCall(ctx context.Context, e *simEnv, self instance, args ...string) toolRun {
	return runTool(ctx, t.env(e, self), t.AWSCLI, args...)
}
