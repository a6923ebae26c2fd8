// Conformance of donjon to the OCI runtime-spec lifecycle, measured side by side with runc and crun
// on this machine. Configurations are made and checked with the opencontainers runtime-tools
// library (Debian's golang-github-opencontainers-runtime-tools-dev: its generate and validate
// packages; the package ships no validation/ programs), and every check runs against each runtime.
// A check is what runtime-spec says a runtime MUST do (runtime.md, config.md); where runc or crun
// differs, the table says so and docs/runtime-spec.md explains what donjon does.
//
// usage: conformance DONJON [runc] [crun]   (as root; the driver is the containers' subreaper)
// Prints TAP lines, a table, and "N passed, M failed" for donjon; exits 1 if donjon failed one.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-tools/generate"
	"github.com/opencontainers/runtime-tools/validate"
)

type runtime struct {
	name, bin, root string
}

type env struct {
	rt     *runtime
	work   string // this check's directory (bundle, out/)
	rootfs string // shared busybox root filesystem (read-only in every config)
	id     string
}

var seq int

func (e *env) run(args ...string) (string, string, int) {
	full := append([]string{"--root", e.rt.root}, args...)
	cmd := exec.Command(e.rt.bin, full...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	// create: the init inherits stdio; a pipe would stay open, so create gets files
	if len(args) > 0 && (args[0] == "create" || args[0] == "start") {
		f, _ := os.Create(filepath.Join(e.work, args[0]+".log"))
		defer f.Close()
		cmd.Stdout, cmd.Stderr = f, f
	}
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		code = 127
	}
	if len(args) > 0 && (args[0] == "create" || args[0] == "start") {
		b, _ := os.ReadFile(filepath.Join(e.work, args[0]+".log"))
		errb.Write(b)
	}
	return out.String(), errb.String(), code
}

// A config for this check: runtime-tools' default Linux spec, the shared root read-only, out/
// bound at /out, a unique cgroup, process `sh -c script`.
func (e *env) config(script string) *generate.Generator {
	g, err := generate.New("linux")
	if err != nil {
		panic(err)
	}
	g.SetRootPath("rootfs") // a bind of the shared root: root.path must be in the bundle
	g.SetRootReadonly(true)
	g.SetProcessArgs([]string{"sh", "-c", script})
	g.SetProcessTerminal(false)
	g.SetLinuxCgroupsPath("/dj-conformance/" + e.id)
	g.SetHostname("conformance")
	g.AddMount(rspec.Mount{Destination: "/out", Type: "bind", Source: filepath.Join(e.work, "out"),
		Options: []string{"rbind", "rw"}})
	return &g
}

// runtime-tools' checks of a config, but for the JSON schema (fetched from the network, which
// this machine has not) and the version (the library knows 1.0.2; donjon writes 1.2.0). Ambient
// capabilities outside the inheritable set are reported apart: `runc spec` and `crun spec` write
// them too, and runtimes skip them (the kernel would refuse them).
func validateConfig(v validate.Validator) (errs []string, ambient int) {
	for _, f := range []func() error{v.CheckMandatoryFields, v.CheckRoot, v.CheckHooks, v.CheckProcess, v.CheckMounts,
		v.CheckPlatform, v.CheckLinuxResources, v.CheckAnnotations, v.CheckLinux} {
		err := f()
		if err == nil {
			continue
		}
		for _, line := range strings.Split(err.Error(), "\n") {
			line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "*"))
			switch {
			case line == "" || strings.Contains(line, "errors occurred") || strings.Contains(line, "error occurred") ||
				strings.HasPrefix(line, "Refer to"):
			case strings.Contains(line, "ambient capability"):
				ambient++
			default:
				errs = append(errs, line)
			}
		}
	}
	return errs, ambient
}

func (e *env) write(g *generate.Generator) error {
	v, err := validate.NewValidator(g.Config, e.work, false, "linux")
	if err != nil {
		return err
	}
	// the library itself must find the config valid, or the check is not about the runtime
	if errs, _ := validateConfig(v); len(errs) > 0 {
		return fmt.Errorf("runtime-tools finds the check's own config invalid: %s", strings.Join(errs, "; "))
	}
	b, _ := json.MarshalIndent(g.Config, "", "  ")
	return os.WriteFile(filepath.Join(e.work, "config.json"), b, 0o644)
}

func (e *env) create(g *generate.Generator) error {
	if err := e.write(g); err != nil {
		return err
	}
	if _, errs, code := e.run("create", "--bundle", e.work, e.id); code != 0 {
		return fmt.Errorf("create failed (%d): %s", code, strings.TrimSpace(errs))
	}
	return nil
}

func (e *env) state() (map[string]interface{}, error) {
	out, errs, code := e.run("state", e.id)
	if code != 0 {
		return nil, fmt.Errorf("state failed (%d): %s", code, strings.TrimSpace(errs))
	}
	var st map[string]interface{}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return nil, fmt.Errorf("state is not JSON: %q", out)
	}
	return st, nil
}

func (e *env) status() string {
	st, err := e.state()
	if err != nil {
		return "error: " + err.Error()
	}
	s, _ := st["status"].(string)
	return s
}

func (e *env) pid() int {
	st, err := e.state()
	if err != nil {
		return 0
	}
	p, _ := st["pid"].(float64)
	return int(p)
}

// Wait for the init (our child: we are the subreaper) to exit; its wait status.
func waitInit(pid int) (syscall.WaitStatus, error) {
	var ws syscall.WaitStatus
	_, err := syscall.Wait4(pid, &ws, 0, nil)
	return ws, err
}

func (e *env) start() error {
	if _, errs, code := e.run("start", e.id); code != 0 {
		return fmt.Errorf("start failed (%d): %s", code, strings.TrimSpace(errs))
	}
	return nil
}

// create, start, and wait for the process to exit; returns what it wrote to /out/o
func (e *env) runToEnd(g *generate.Generator) (string, syscall.WaitStatus, error) {
	if err := e.create(g); err != nil {
		return "", 0, err
	}
	pid := e.pid()
	if err := e.start(); err != nil {
		return "", 0, err
	}
	ws, err := waitInit(pid)
	if err != nil {
		return "", 0, fmt.Errorf("wait for the init %d: %v", pid, err)
	}
	b, _ := os.ReadFile(filepath.Join(e.work, "out", "o"))
	return string(b), ws, nil
}

// what the runtime and the init wrote (create's stdio is the init's), for a failure's report
func (e *env) log() string {
	l, _ := os.ReadFile(filepath.Join(e.work, "create.log"))
	return strings.TrimSpace(string(l))
}

func expect(cond bool, format string, a ...interface{}) error {
	if cond {
		return nil
	}
	return fmt.Errorf(format, a...)
}

type check struct {
	name string
	fn   func(e *env) error
}

var checks = []check{
	{"state of an unknown id is an error", func(e *env) error {
		_, _, code := e.run("state", e.id)
		return expect(code != 0, "state of a container that does not exist succeeded")
	}},
	{"create: state created, with id, pid, bundle, ociVersion", func(e *env) error {
		if err := e.create(e.config("exit 0")); err != nil {
			return err
		}
		st, err := e.state()
		if err != nil {
			return err
		}
		pid, _ := st["pid"].(float64)
		v, _ := st["ociVersion"].(string)
		return expect(st["status"] == "created" && st["id"] == e.id && pid > 0 && st["bundle"] == e.work && v != "",
			"state after create: %v", st)
	}},
	{"create of an existing id is an error and changes nothing", func(e *env) error {
		if err := e.create(e.config("exit 0")); err != nil {
			return err
		}
		pid := e.pid()
		_, _, code := e.run("create", "--bundle", e.work, e.id)
		return expect(code != 0 && e.pid() == pid && e.status() == "created", "a second create with the same id succeeded")
	}},
	{"start runs the process; stopped once it exits", func(e *env) error {
		out, ws, err := e.runToEnd(e.config("echo ran > /out/o; exit 3"))
		if err != nil {
			return err
		}
		return expect(out == "ran\n" && ws.ExitStatus() == 3 && e.status() == "stopped",
			"output %q, exit %d, status %s (%s)", out, ws.ExitStatus(), e.status(), e.log())
	}},
	{"start of a running container is an error", func(e *env) error {
		if err := e.create(e.config("sleep 100")); err != nil {
			return err
		}
		if err := e.start(); err != nil {
			return err
		}
		_, _, code := e.run("start", e.id)
		e.run("kill", e.id, "KILL")
		return expect(code != 0, "a second start succeeded")
	}},
	{"kill sends the signal; the container stops", func(e *env) error {
		if err := e.create(e.config("trap 'exit 42' TERM; while :; do sleep 0.1; done")); err != nil {
			return err
		}
		pid := e.pid()
		if err := e.start(); err != nil {
			return err
		}
		// the handler must be installed before TERM comes: wait until the script runs
		for i := 0; i < 500; i++ {
			if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); bytes.Contains(b, []byte("(sh)")) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond)
		if _, errs, code := e.run("kill", e.id, "TERM"); code != 0 {
			return fmt.Errorf("kill failed: %s", errs)
		}
		ws, _ := waitInit(pid)
		return expect(ws.ExitStatus() == 42 && e.status() == "stopped", "exit %d, status %s", ws.ExitStatus(), e.status())
	}},
	{"kill of a stopped container is an error", func(e *env) error {
		if _, _, err := e.runToEnd(e.config("exit 0")); err != nil {
			return err
		}
		_, _, code := e.run("kill", e.id, "KILL")
		return expect(code != 0, "kill of a stopped container succeeded")
	}},
	{"delete of a stopped container removes it", func(e *env) error {
		if _, _, err := e.runToEnd(e.config("exit 0")); err != nil {
			return err
		}
		if _, errs, code := e.run("delete", e.id); code != 0 {
			return fmt.Errorf("delete failed: %s", errs)
		}
		_, _, code := e.run("state", e.id)
		return expect(code != 0, "state of a deleted container succeeded")
	}},
	{"delete of a running container is an error", func(e *env) error {
		if err := e.create(e.config("sleep 100")); err != nil {
			return err
		}
		if err := e.start(); err != nil {
			return err
		}
		_, _, code := e.run("delete", e.id)
		ok := e.status() == "running"
		e.run("kill", e.id, "KILL")
		return expect(code != 0 && ok, "delete of a running container succeeded")
	}},
	{"delete of a created container kills its init and removes it (as containerd's shim expects)", func(e *env) error {
		if err := e.create(e.config("exit 0")); err != nil {
			return err
		}
		_, _, code := e.run("delete", e.id)
		_, _, after := e.run("state", e.id)
		return expect(code == 0 && after != 0, "delete of a created container failed or left it")
	}},
	{"annotations are in the state", func(e *env) error {
		g := e.config("exit 0")
		g.AddAnnotation("org.example.key", "value")
		if err := e.create(g); err != nil {
			return err
		}
		st, err := e.state()
		if err != nil {
			return err
		}
		a, _ := st["annotations"].(map[string]interface{})
		return expect(a["org.example.key"] == "value", "annotations in the state: %v", st["annotations"])
	}},
	{"an invalid config is an error and leaves no container", func(e *env) error {
		g := e.config("exit 0")
		g.Config.Process.Rlimits = append(g.Config.Process.Rlimits, rspec.POSIXRlimit{Type: "RLIMIT_NOSUCH", Hard: 1, Soft: 1})
		b, _ := json.Marshal(g.Config)
		os.WriteFile(filepath.Join(e.work, "config.json"), b, 0o644)
		_, _, code := e.run("create", "--bundle", e.work, e.id)
		_, _, scode := e.run("state", e.id)
		return expect(code != 0 && scode != 0, "create with an unknown rlimit: exit %d, state exit %d", code, scode)
	}},
	{"process: args, env, cwd, user, rlimits", func(e *env) error {
		g := e.config("echo $FOO; pwd; id -u; id -g; ulimit -n; umask > /dev/null; echo done")
		g.Config.Process.Args = []string{"sh", "-c", "(echo $FOO; pwd; id -u; id -g; ulimit -n) > /out/o"}
		g.AddProcessEnv("FOO", "bar")
		g.SetProcessCwd("/tmp")
		g.SetProcessUID(1000)
		g.SetProcessGID(1000)
		g.Config.Process.Rlimits = []rspec.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1000, Soft: 1000}}
		os.Chmod(filepath.Join(e.work, "out"), 0o777)
		out, _, err := e.runToEnd(g)
		if err != nil {
			return err
		}
		return expect(out == "bar\n/tmp\n1000\n1000\n1000\n", "the process saw %q (%s)", out, e.log())
	}},
	{"seccomp without no_new_privs for a user other than root", func(e *env) error {
		g := e.config("(id -u; grep Seccomp: /proc/self/status) > /out/o")
		g.SetProcessUID(1000)
		g.SetProcessGID(1000)
		g.SetProcessNoNewPrivileges(false)
		g.Config.Linux.Seccomp = &rspec.LinuxSeccomp{DefaultAction: rspec.ActAllow,
			Syscalls: []rspec.LinuxSyscall{{Names: []string{"mknodat"}, Action: rspec.ActErrno}}}
		os.Chmod(filepath.Join(e.work, "out"), 0o777)
		out, _, err := e.runToEnd(g)
		if err != nil {
			return err
		}
		return expect(out == "1000\nSeccomp:\t2\n", "the process saw %q (%s)", out, e.log())
	}},
	{"root.readonly and the hostname", func(e *env) error {
		out, _, err := e.runToEnd(e.config("(touch /x 2>/dev/null && echo writable || echo readonly; hostname) > /out/o"))
		if err != nil {
			return err
		}
		return expect(out == "readonly\nconformance\n", "the process saw %q (%s)", out, e.log())
	}},
	{"masked and read-only paths", func(e *env) error {
		g := e.config("(stat -c %t:%T /proc/timer_list; echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo rw || echo ro) > /out/o")
		g.AddLinuxMaskedPaths("/proc/timer_list")
		g.AddLinuxReadonlyPaths("/proc/sys")
		out, _, err := e.runToEnd(g)
		if err != nil {
			return err
		}
		return expect(out == "1:3\nro\n", "the process saw %q (%s)", out, e.log())
	}},
	{"linux.resources: pids and memory limits in the cgroup", func(e *env) error {
		g := e.config("sleep 100")
		g.SetLinuxResourcesPidsLimit(42)
		g.SetLinuxResourcesMemoryLimit(64 << 20)
		if err := e.create(g); err != nil {
			return err
		}
		pids, _ := os.ReadFile("/sys/fs/cgroup/pids/dj-conformance/" + e.id + "/pids.max")
		mem, _ := os.ReadFile("/sys/fs/cgroup/memory/dj-conformance/" + e.id + "/memory.limit_in_bytes")
		return expect(string(pids) == "42\n" && string(mem) == "67108864\n", "pids.max %q memory.limit_in_bytes %q",
			pids, mem)
	}},
	{"hooks: prestart, poststart, poststop in order, with the state on stdin", func(e *env) error {
		g := e.config("exit 0")
		log := filepath.Join(e.work, "out", "hooks")
		for _, kind := range []string{"prestart", "poststart", "poststop"} {
			h := rspec.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "read -r s; echo \"" + kind + " $s\" >> " + log}}
			switch kind {
			case "prestart":
				g.AddPreStartHook(h)
			case "poststart":
				g.AddPostStartHook(h)
			default:
				g.AddPostStopHook(h)
			}
		}
		if _, _, err := e.runToEnd(g); err != nil {
			return err
		}
		if _, errs, code := e.run("delete", e.id); code != 0 {
			return fmt.Errorf("delete failed: %s", errs)
		}
		b, _ := os.ReadFile(log)
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		okOrder := len(lines) == 3 && strings.HasPrefix(lines[0], "prestart ") &&
			strings.HasPrefix(lines[1], "poststart ") && strings.HasPrefix(lines[2], "poststop ")
		return expect(okOrder && strings.Contains(string(b), `"id":"`+e.id+`"`), "hooks ran: %q", b)
	}},
	{"exec joins the container's namespaces and passes the exit status", func(e *env) error {
		if err := e.create(e.config("sleep 100")); err != nil {
			return err
		}
		if err := e.start(); err != nil {
			return err
		}
		defer e.run("kill", e.id, "KILL")
		out, errs, code := e.run("exec", e.id, "sh", "-c",
			"for n in pid mnt net ipc uts; do [ $(readlink /proc/1/ns/$n) = $(readlink /proc/self/ns/$n) ] || echo DIFF $n; done; hostname; exit 5")
		return expect(code == 5 && out == "conformance\n", "exec: exit %d, output %q %s", code, out, errs)
	}},
	{"pause and resume: paused, then running", func(e *env) error {
		if err := e.create(e.config("sleep 100")); err != nil {
			return err
		}
		if err := e.start(); err != nil {
			return err
		}
		defer e.run("kill", e.id, "KILL")
		if _, errs, code := e.run("pause", e.id); code != 0 {
			return fmt.Errorf("pause failed: %s", errs)
		}
		paused := e.status()
		if _, errs, code := e.run("resume", e.id); code != 0 {
			return fmt.Errorf("resume failed: %s", errs)
		}
		return expect(paused == "paused" && e.status() == "running", "after pause %s, after resume %s", paused, e.status())
	}},
	{"ps --format json lists the init's pid", func(e *env) error {
		if err := e.create(e.config("sleep 100")); err != nil {
			return err
		}
		if err := e.start(); err != nil {
			return err
		}
		defer e.run("kill", e.id, "KILL")
		out, errs, code := e.run("ps", "--format", "json", e.id)
		var pids []int
		json.Unmarshal([]byte(out), &pids)
		ok := false
		for _, p := range pids {
			ok = ok || p == e.pid()
		}
		return expect(code == 0 && ok, "ps: exit %d, %q %s (init %d)", code, out, errs, e.pid())
	}},
	{"`spec` writes a config that runtime-tools validates", func(e *env) error {
		dir := filepath.Join(e.work, "spec")
		os.MkdirAll(filepath.Join(dir, "rootfs"), 0o755)
		cmd := exec.Command(e.rt.bin, "spec")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("spec failed: %v %s", err, out)
		}
		v, err := validate.NewValidatorFromPath(dir, false, "linux")
		if err != nil {
			return err
		}
		errs, ambient := validateConfig(v)
		if ambient > 0 {
			fmt.Printf("# %s spec: %d ambient capabilities outside the inheritable set (as runc spec writes them)\n",
				e.rt.name, ambient)
		}
		return expect(len(errs) == 0, "%s", strings.Join(errs, "; "))
	}},
}

func busybox(dir string) error {
	os.MkdirAll(filepath.Join(dir, "bin"), 0o755)
	for _, d := range []string{"proc", "sys", "dev", "tmp", "etc", "out"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	os.Chmod(filepath.Join(dir, "tmp"), 0o1777)
	if out, err := exec.Command("cp", "/bin/busybox", filepath.Join(dir, "bin", "busybox")).CombinedOutput(); err != nil {
		return fmt.Errorf("cp busybox: %v %s", err, out)
	}
	list, err := exec.Command("/bin/busybox", "--list").Output()
	if err != nil {
		return err
	}
	for _, a := range strings.Fields(string(list)) {
		if a != "busybox" {
			os.Symlink("busybox", filepath.Join(dir, "bin", a))
		}
	}
	return nil
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: conformance DONJON [runc] [crun]")
		os.Exit(2)
	}
	// the created inits become our children, as with a shim
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, 36 /* PR_SET_CHILD_SUBREAPER */, 1, 0); errno != 0 {
		fmt.Fprintln(os.Stderr, "conformance: PR_SET_CHILD_SUBREAPER:", errno)
		os.Exit(1)
	}
	work, err := os.MkdirTemp("", "dj-conformance-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(work)
	os.Chmod(work, 0o755)
	rootfs := filepath.Join(work, "rootfs")
	if err := busybox(rootfs); err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		os.Exit(1)
	}
	var rts []*runtime
	for i, bin := range os.Args[1:] {
		name := filepath.Base(bin)
		if i == 0 {
			name = "donjon"
		}
		rts = append(rts, &runtime{name: name, bin: bin, root: filepath.Join(work, "root-"+name)})
	}
	results := map[string]map[string]error{}
	owner := map[string]string{} // container id -> runtime name
	n := 0
	failed := 0
	for _, c := range checks {
		results[c.name] = map[string]error{}
		for _, rt := range rts {
			seq++
			e := &env{rt: rt, rootfs: rootfs, id: fmt.Sprintf("c%d-%d", os.Getpid(), seq)}
			e.work = filepath.Join(work, e.id)
			owner[e.id] = rt.name
			os.MkdirAll(filepath.Join(e.work, "out"), 0o755)
			// the shared root bound into the bundle (in the driver's private mount namespace)
			os.MkdirAll(filepath.Join(e.work, "rootfs"), 0o755)
			if err := syscall.Mount(rootfs, filepath.Join(e.work, "rootfs"), "", syscall.MS_BIND, ""); err != nil {
				fmt.Fprintln(os.Stderr, "conformance: bind the root filesystem:", err)
				os.Exit(1)
			}
			err := c.fn(e)
			// whatever the check did, nothing of it stays
			e.run("delete", "--force", e.id)
			for {
				if p, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil); err != nil || p <= 0 {
					break
				}
			}
			syscall.Unmount(filepath.Join(e.work, "rootfs"), syscall.MNT_DETACH)
			results[c.name][rt.name] = err
			n++
			status := "ok"
			if err != nil {
				status = "not ok"
				if rt.name == "donjon" {
					failed++
				}
			}
			fmt.Printf("%s %d - %s (%s)", status, n, c.name, rt.name)
			if err != nil {
				fmt.Printf(" # %v", err)
			}
			fmt.Println()
		}
	}
	// nothing of any check is left: every cgroup of this run's ids is gone (delete --force ran)
	leaves, _ := filepath.Glob(fmt.Sprintf("/sys/fs/cgroup/*/dj-conformance/c%d-*", os.Getpid()))
	for _, l := range leaves {
		id := filepath.Base(l)
		name := owner[id]
		fmt.Printf("# cgroup left by %s (%s): %s\n", name, id, l)
		if name == "donjon" {
			failed++
		}
		syscall.Rmdir(l)
	}
	fmt.Printf("\n| check |")
	for _, rt := range rts {
		fmt.Printf(" %s |", rt.name)
	}
	fmt.Printf("\n|---|")
	for range rts {
		fmt.Printf("---|")
	}
	fmt.Println()
	for _, c := range checks {
		fmt.Printf("| %s |", c.name)
		for _, rt := range rts {
			if results[c.name][rt.name] == nil {
				fmt.Printf(" pass |")
			} else {
				fmt.Printf(" FAIL |")
			}
		}
		fmt.Println()
	}
	fmt.Printf("\n%d passed, %d failed\n", len(checks)-failed, failed)
	if failed > 0 {
		os.Exit(1)
	}
}
