package webhookstest_test

import (
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// checkSuiteFails runs child, a test of this binary that runs a conformance
// suite on the broken implementation named by the environment variable env,
// once per name in subtests (broken implementation -> the suite subtest
// expected to catch it), each in a child process, since a failing suite
// fails its *testing.T. It checks that every run fails, and in the expected
// subtest.
func checkSuiteFails(t *testing.T, env, child string, subtests map[string]string) {
	if os.Getenv(env) != "" {
		return // inside a child process: child does the work
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(subtests))
	for name := range subtests {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), exe, "-test.run=^"+child+"$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), env+"="+name)
			out, err := cmd.CombinedOutput()
			if _, ok := errors.AsType[*exec.ExitError](err); !ok {
				t.Fatalf("suite on %q: err = %v, want a failing exit status\n%s", name, err, out)
			}
			if want := "--- FAIL: " + child + "/" + subtests[name] + " "; !strings.Contains(string(out), want) {
				t.Errorf("suite on %q did not fail subtest %s:\n%s", name, subtests[name], out)
			}
		})
	}
}
