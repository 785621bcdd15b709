"""Hostile code in C++, Go and Java: the attacks of test_hostile_code.py where a compiled test binary
(C++, Go) or a JVM running the suite in-process (Java) changes what the code under test can reach.
Each case asserts the verdict, that the daemon stays healthy, and (the `client` fixture) that no
container is left behind."""

from __future__ import annotations

import pytest
from conftest import HOST_SECRET
from helpers import validate
from runtimes import reopens_harness_pipes

pytestmark = pytest.mark.each_runtime  # also under gVisor in CI (tests/runtimes.py)

LANGUAGES = ("cpp", "go", "java")
SOLUTIONS = {"cpp": "", "go": "package solution\n", "java": "public class Solution {}\n"}


@pytest.fixture(autouse=True)
def images(require_image):
    for language in LANGUAGES:
        require_image(language)


def cpp(body: str, includes: str = "") -> str:
    headers = "".join(f"#include <{name}>\n" for name in ("gtest/gtest.h", *includes.split()))
    return f"{headers}\nTEST(Hostile, Attack) {{\n{body}\n}}\n"


def go(body: str, imports: str = "") -> str:
    listed = "".join(f'\t"{name}"\n' for name in ("testing", *imports.split()))
    return f"package solution\n\nimport (\n{listed})\n\nfunc TestAttack(t *testing.T) {{\n{body}\n}}\n"


def java(body: str, imports: str = "") -> str:
    listed = "".join(f"import {name};\n" for name in ("org.junit.jupiter.api.Test", *imports.split()))
    return f"{listed}\npublic class SolutionTest {{\n    @Test\n    void attack() throws Exception {{\n{body}\n    }}\n}}\n"


async def verdict(client, language: str, tests: str, **extra) -> dict:
    result = await validate(client, language, SOLUTIONS[language], tests, **extra)
    health = await client.get("/health")
    assert health.status == 200, "the daemon must stay healthy"
    return result


CRASHED = {"timeout", "failed", "runtime_error", "memory_limit"}

# (attack, language) -> (tests, the statuses accepted)
RESOURCE_CASES = {
    ("fork-bomb", "cpp"): (cpp("  while (true) fork();", "unistd.h"), CRASHED),
    ("fork-bomb", "go"): (
        go('  for {\n    exec.Command(os.Args[0], "-test.run=TestAttack").Start()\n  }', "os os/exec"),
        CRASHED,
    ),
    ("fork-bomb", "java"): (
        java(
            '        while (true) {\n            try { new ProcessBuilder("sleep", "1000").start(); }'
            " catch (java.io.IOException e) { }\n        }"
        ),
        CRASHED,
    ),
    ("memory-bomb", "cpp"): (
        cpp("  std::vector<std::vector<char>> keep;\n  while (true) keep.emplace_back(1 << 20, 'x');", "vector"),
        {"memory_limit"},
    ),
    ("memory-bomb", "go"): (
        go("  var keep [][]byte\n  for {\n    keep = append(keep, bytes.Repeat([]byte{1}, 1<<20))\n  }", "bytes"),
        {"memory_limit"},
    ),
    ("memory-bomb", "java"): (
        java(
            "        java.util.List<byte[]> keep = new java.util.ArrayList<>();\n"
            "        while (true) keep.add(new byte[1 << 20]);"
        ),
        {"memory_limit"},
    ),
    ("threads-spinning", "cpp"): (
        cpp(
            "  std::vector<std::thread> all;\n  for (int i = 0; i < 16; ++i) all.emplace_back([] { for (volatile int x = 0;; ++x) {} });\n"
            "  for (auto& t : all) t.join();",
            "thread vector",
        ),
        {"timeout"},
    ),
    ("threads-spinning", "go"): (
        go("  for i := 0; i < 32; i++ {\n    go func() {\n      for {\n      }\n    }()\n  }\n  for {\n  }"),
        {"timeout"},
    ),
    ("threads-spinning", "java"): (
        java(
            "        for (int i = 0; i < 16; i++) new Thread(() -> { while (true) { } }).start();\n        while (true) { }"
        ),
        {"timeout"},
    ),
    ("sleep-forever", "cpp"): (cpp("  sleep(1000000);", "unistd.h"), {"timeout"}),
    ("sleep-forever", "go"): (go("  time.Sleep(time.Hour)", "time"), {"timeout"}),
    ("sleep-forever", "java"): (java("        Thread.sleep(Long.MAX_VALUE);"), {"timeout"}),
    ("stop-itself", "cpp"): (cpp("  kill(getpid(), SIGSTOP);", "csignal unistd.h"), {"timeout"}),
    ("stop-itself", "go"): (go("  syscall.Kill(syscall.Getpid(), syscall.SIGSTOP)", "syscall"), {"timeout"}),
    ("stop-itself", "java"): (
        java('        new ProcessBuilder("sh", "-c", "kill -STOP $PPID").start().waitFor();'),
        {"timeout"},
    ),
    # kill(-1) reaches every process of the sandbox user: the supervisor too, so only the daemon's
    # own deadline can end the run.
    ("stop-everyone", "cpp"): (
        cpp("  kill(-1, SIGSTOP);\n  for (volatile int x = 0;; ++x) {}", "csignal unistd.h"),
        {"timeout"},
    ),
    ("stop-everyone", "go"): (go("  syscall.Kill(-1, syscall.SIGSTOP)\n  for {\n  }", "syscall"), {"timeout"}),
    ("stop-everyone", "java"): (
        java('        new ProcessBuilder("sh", "-c", "kill -STOP -1").start().waitFor();\n        while (true) { }'),
        {"timeout"},
    ),
    ("stdout-flood", "cpp"): (
        cpp("  std::string line(4096, 'o');\n  while (true) std::cout << line << '\\n';", "iostream string"),
        {"output_limit"},
    ),
    ("stdout-flood", "go"): (
        go('  line := strings.Repeat("o", 4096)\n  for {\n    fmt.Println(line)\n  }', "fmt strings"),
        {"output_limit"},
    ),
    ("stdout-flood", "java"): (
        java('        String line = "o".repeat(4096);\n        while (true) System.out.println(line);'),
        {"output_limit"},
    ),
    ("stderr-flood", "cpp"): (
        cpp("  std::string line(4096, 'e');\n  while (true) std::cerr << line << '\\n';", "iostream string"),
        {"output_limit"},
    ),
    ("stderr-flood", "go"): (
        go('  line := strings.Repeat("e", 4096)\n  for {\n    fmt.Fprintln(os.Stderr, line)\n  }', "fmt os strings"),
        {"output_limit"},
    ),
    ("stderr-flood", "java"): (
        java('        String line = "e".repeat(4096);\n        while (true) System.err.println(line);'),
        {"output_limit"},
    ),
    ("one-huge-line", "cpp"): (
        cpp(
            "  std::string chunk(65536, 'x');\n  while (true) fwrite(chunk.data(), 1, chunk.size(), stdout);",
            "cstdio string",
        ),
        {"output_limit"},
    ),
    ("one-huge-line", "go"): (
        go('  chunk := []byte(strings.Repeat("x", 65536))\n  for {\n    os.Stdout.Write(chunk)\n  }', "os strings"),
        {"output_limit"},
    ),
    ("one-huge-line", "java"): (
        java('        String chunk = "x".repeat(65536);\n        while (true) System.out.print(chunk);'),
        {"output_limit"},
    ),
}


@pytest.mark.parametrize("attack,language", list(RESOURCE_CASES), ids=[f"{a}-{lang}" for a, lang in RESOURCE_CASES])
async def test_resource_attacks_get_a_verdict(client, attack, language):
    tests, expected = RESOURCE_CASES[attack, language]
    result = await verdict(client, language, tests, timeoutMs=2500, memoryMb=256)
    assert result["status"] in expected, (result["status"], result["message"], result["output"][-1500:])
    assert result["passed"] is False


# Suites whose every test must pass: each test asserts that one attack is refused or contained.
CONTAINED = {
    "cpp": """#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <netdb.h>
#include <string>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <unistd.h>

TEST(Contained, InvalidUtf8AndNulInOutput) { ASSERT_EQ(write(1, "\\xff\\xfe\\x00 nul \\xc3\\x28 end\\n", 15), 15); }

TEST(Contained, ReadOnlySystemAndHarness) {
  for (const char* path : {"/etc/passwd", "/usr/phronosd", "/opt/phronosd/harness/run", "/opt/phronosd/supervisor.py"})
    EXPECT_LT(open(path, O_WRONLY | O_CREAT, 0644), 0) << path;
}

TEST(Contained, FillingTheTmpfs) {
  FILE* big = fopen("/work/big", "wb");
  std::string chunk(1 << 20, '0');
  size_t written = 0;
  while (fwrite(chunk.data(), 1, chunk.size(), big) == chunk.size() && fflush(big) == 0) written += chunk.size();
  EXPECT_LT(written, 100u << 20);
}

TEST(Contained, FallocateBeyondTheLimits) {
  signal(SIGXFSZ, SIG_IGN);
  int fd = open("/tmp/huge", O_CREAT | O_WRONLY, 0644);
  EXPECT_NE(posix_fallocate(fd, 0, 10LL << 30), 0);
}

TEST(Contained, NoPrivileges) {
  EXPECT_NE(setuid(0), 0);
  EXPECT_NE(mount("none", "/work", "tmpfs", 0, nullptr), 0);
  EXPECT_LT(socket(AF_INET, SOCK_RAW, IPPROTO_ICMP), 0);
}

const bool kHarnessPipesReachable = HARNESS_PIPES_REACHABLE;

std::string link_of(const std::string& path) {
  char target[256] = {0};
  return readlink(path.c_str(), target, sizeof target - 1) < 0 ? "" : target;
}

TEST(Contained, HarnessIsOutOfReach) {
  EXPECT_NE(ptrace(PTRACE_ATTACH, getppid(), nullptr, nullptr), 0);
  std::string harness = "/proc/" + std::to_string(getppid());
  EXPECT_LT(open((harness + "/mem").c_str(), O_RDONLY), 0);
  int sockets = 0;
  for (int fd = 0; fd < 32; ++fd) {
    std::string path = harness + "/fd/" + std::to_string(fd);
    std::string link = link_of(path);
    sockets += link.rfind("socket:", 0) == 0;
    if (kHarnessPipesReachable && (link == "/dev/null" || link.rfind("pipe:", 0) == 0)) continue;
    EXPECT_LT(open(path.c_str(), O_WRONLY), 0) << path << " " << link;
  }
  if (kHarnessPipesReachable) EXPECT_GT(sockets, 0) << "the harness's report socket was not seen";
}

TEST(Contained, NoNetwork) {
  sockaddr_in google{};
  google.sin_family = AF_INET;
  google.sin_port = htons(53);
  inet_pton(AF_INET, "8.8.8.8", &google.sin_addr);
  int tcp = socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_NE(connect(tcp, reinterpret_cast<sockaddr*>(&google), sizeof google), 0);
  int udp = socket(AF_INET, SOCK_DGRAM, 0);
  EXPECT_LT(sendto(udp, "x", 1, 0, reinterpret_cast<sockaddr*>(&google), sizeof google), 0);
  addrinfo* found = nullptr;
  EXPECT_NE(getaddrinfo("example.com", "443", nullptr, &found), 0);
}

TEST(Contained, NoHostSecrets) {
  for (char** var = environ; *var != nullptr; ++var) EXPECT_EQ(strstr(*var, "SECRET_VALUE"), nullptr) << *var;
  DIR* proc = opendir("/proc");
  while (dirent* entry = readdir(proc)) {
    std::ifstream environ_file(std::string("/proc/") + entry->d_name + "/environ", std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(environ_file)), std::istreambuf_iterator<char>());
    EXPECT_EQ(data.find("SECRET_VALUE"), std::string::npos) << entry->d_name;
  }
}
""",
    "go": """package solution

import (
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestInvalidUtf8AndNulInOutput(t *testing.T) {
	os.Stdout.Write([]byte("\\xff\\xfe\\x00 nul \\xc3\\x28 end\\n"))
}

func TestReadOnlySystemAndHarness(t *testing.T) {
	for _, path := range []string{"/etc/passwd", "/usr/phronosd", "/opt/phronosd/harness/run", "/opt/phronosd/supervisor.py"} {
		if f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644); err == nil {
			f.Close()
			t.Errorf("%s is writable", path)
		}
	}
}

func TestFillingTheTmpfs(t *testing.T) {
	f, _ := os.Create("/work/big")
	chunk := make([]byte, 1<<20)
	for written := 0; ; written += len(chunk) {
		if _, err := f.Write(chunk); err != nil {
			return
		}
		if written > 100<<20 {
			t.Fatal("wrote 100 MiB into /work")
		}
	}
}

func TestFallocateBeyondTheLimits(t *testing.T) {
	signal.Ignore(syscall.SIGXFSZ)
	f, _ := os.Create("/tmp/huge")
	if err := syscall.Fallocate(int(f.Fd()), 0, 0, 10<<30); err == nil {
		t.Fatal("allocated 10 GiB")
	}
}

func TestNoPrivileges(t *testing.T) {
	if err := syscall.Setuid(0); err == nil {
		t.Error("setuid(0) worked")
	}
	if err := syscall.Mount("none", "/work", "tmpfs", 0, ""); err == nil {
		t.Error("mount worked")
	}
	if _, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW, syscall.IPPROTO_ICMP); err == nil {
		t.Error("raw socket opened")
	}
}

const harnessPipesReachable = HARNESS_PIPES_REACHABLE

func TestHarnessIsOutOfReach(t *testing.T) {
	if err := syscall.PtraceAttach(os.Getppid()); err == nil {
		t.Error("attached to the harness")
	}
	harness := "/proc/" + strconv.Itoa(os.Getppid())
	if f, err := os.Open(harness + "/mem"); err == nil {
		f.Close()
		t.Error("the harness's memory is open to the test")
	}
	sockets := 0
	for fd := 0; fd < 32; fd++ {
		path := harness + "/fd/" + strconv.Itoa(fd)
		link, _ := os.Readlink(path)
		if strings.HasPrefix(link, "socket:") {
			sockets++
		}
		if harnessPipesReachable && (link == "/dev/null" || strings.HasPrefix(link, "pipe:")) {
			continue
		}
		if f, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
			f.Close()
			t.Errorf("%s (%s) is open to the test", path, link)
		}
	}
	if harnessPipesReachable && sockets == 0 {
		t.Error("the harness's report socket was not seen")
	}
}

func TestNoNetwork(t *testing.T) {
	if _, err := net.DialTimeout("tcp", "8.8.8.8:53", 2*time.Second); err == nil {
		t.Error("TCP connected")
	}
	if conn, err := net.Dial("udp", "8.8.8.8:53"); err == nil {
		if _, err := conn.Write([]byte("x")); err == nil {
			t.Error("UDP sent")
		}
	}
	if _, err := net.LookupHost("example.com"); err == nil {
		t.Error("DNS resolved")
	}
}

func TestNoHostSecrets(t *testing.T) {
	for _, v := range os.Environ() {
		if strings.Contains(v, "SECRET_VALUE") {
			t.Errorf("environment: %s", v)
		}
	}
	paths, _ := filepath.Glob("/proc/[0-9]*/environ")
	for _, path := range paths {
		if data, err := os.ReadFile(path); err == nil && strings.Contains(string(data), "SECRET_VALUE") {
			t.Errorf("%s holds the secret", path)
		}
	}
}
""",
    "java": """import static org.junit.jupiter.api.Assertions.*;

import java.io.*;
import java.net.*;
import java.nio.file.*;
import org.junit.jupiter.api.Test;

public class SolutionTest {
    @Test
    void invalidUtf8AndNulInOutput() throws IOException {
        FileOutputStream out = new FileOutputStream(FileDescriptor.out);
        out.write(new byte[] {(byte) 0xff, (byte) 0xfe, 0, ' ', 'n', 'u', 'l', ' ', (byte) 0xc3, 0x28, ' ', 'e', 'n', 'd', '\\n'});
        out.flush();
    }

    @Test
    void readOnlySystemAndHarness() {
        for (String path : new String[] {"/etc/passwd", "/usr/phronosd", "/opt/phronosd/harness/run", "/opt/phronosd/supervisor.py"}) {
            assertThrows(IOException.class, () -> new FileOutputStream(path).close(), path);
        }
    }

    @Test
    void fillingTheTmpfs() {
        byte[] chunk = new byte[1 << 20];
        assertThrows(IOException.class, () -> {
            try (FileOutputStream big = new FileOutputStream("/work/big")) {
                for (int i = 0; i < 100; i++) big.write(chunk);
            }
        });
    }

    @Test
    void fallocateBeyondTheLimits() {
        assertThrows(IOException.class, () -> {
            try (RandomAccessFile huge = new RandomAccessFile("/tmp/huge", "rw")) {
                huge.setLength(10L << 30);
            }
        });
    }

    @Test
    void noPrivileges() throws Exception {
        Process mount = new ProcessBuilder("sh", "-c", "mount -t tmpfs none /work || exit 1").start();
        assertNotEquals(0, mount.waitFor());
    }

    @Test
    void noNetwork() {
        assertThrows(IOException.class, () -> new Socket().connect(new InetSocketAddress("8.8.8.8", 53), 2000));
        assertThrows(IOException.class, () -> new DatagramSocket().send(
                new DatagramPacket(new byte[] {1}, 1, InetAddress.getByName("8.8.8.8"), 53)));
        assertThrows(UnknownHostException.class, () -> InetAddress.getByName("example.com"));
    }

    @Test
    void noHostSecrets() throws IOException {
        assertFalse(System.getenv().toString().contains("SECRET_VALUE"));
        try (DirectoryStream<Path> procs = Files.newDirectoryStream(Path.of("/proc"), "[0-9]*")) {
            for (Path proc : procs) {
                try {
                    assertFalse(new String(Files.readAllBytes(proc.resolve("environ"))).contains("SECRET_VALUE"), proc.toString());
                } catch (IOException unreadable) {
                    // another process's environment is closed to the test: that is fine
                }
            }
        }
    }
}
""",
}
CONTAINED_COUNTS = {"cpp": 8, "go": 8, "java": 7}


@pytest.mark.parametrize("language", LANGUAGES)
async def test_attacks_on_the_sandbox_are_refused(host_secret, client, container_runtime, language):
    """The harness (the test binary's parent) is out of reach: no ptrace, no memory, none of its fds
    (under gVisor none but its pipes, never its report socket: `runtimes.reopens_harness_pipes`)."""
    reachable = "true" if reopens_harness_pipes(container_runtime) else "false"
    tests = CONTAINED[language].replace("SECRET_VALUE", HOST_SECRET).replace("HARNESS_PIPES_REACHABLE", reachable)
    result = await verdict(client, language, tests)
    failures = [(t["name"], t["message"]) for t in result["tests"] if t["status"] != "passed"]
    assert result["status"] == "passed", (result["message"], failures, result["output"][-3000:])
    assert result["testsPassed"] == CONTAINED_COUNTS[language]
    assert "\x00 nul" in result["output"] and "\ufffd" in result["output"]


CLOSE_OUTPUT = {
    "cpp": "#include <gtest/gtest.h>\n#include <unistd.h>\n\nTEST(Close, Streams) { close(1); close(2); }\nTEST(Close, After) { SUCCEED(); }\n",
    "go": 'package solution\n\nimport (\n\t"os"\n\t"testing"\n)\n\nfunc TestClose(t *testing.T) {\n\tos.Stdout.Close()\n\tos.Stderr.Close()\n}\n\nfunc TestAfter(t *testing.T) {}\n',
    "java": "import org.junit.jupiter.api.Test;\n\npublic class SolutionTest {\n    @Test\n    void close() {\n        System.out.close();\n        System.err.close();\n    }\n\n    @Test\n    void after() { }\n}\n",
}


@pytest.mark.parametrize("language", LANGUAGES)
async def test_closing_stdout_and_stderr_early(client, language):
    result = await verdict(client, language, CLOSE_OUTPUT[language])
    assert result["status"] == "passed", (result["message"], result["output"][-2000:])
    assert result["testsPassed"] == 2


LEFT_BEHIND = {
    "cpp": cpp(
        "  if (fork() == 0) { setsid(); sleep(1000); _exit(0); }\n"
        "  for (int i = 0; i < 5; ++i) if (fork() == 0) _exit(0);",
        "unistd.h",
    ),
    "go": go(
        '  background := exec.Command("sleep", "1000")\n'
        "  background.SysProcAttr = &syscall.SysProcAttr{Setsid: true}\n"
        "  background.Start()\n"
        "  for i := 0; i < 5; i++ {\n"
        '    exec.Command("true").Start()\n'
        "  }",
        "os/exec syscall",
    ),
    "java": java(
        '        new ProcessBuilder("setsid", "sleep", "1000").start();\n'
        '        for (int i = 0; i < 5; i++) new ProcessBuilder("true").start();'
    ),
}


@pytest.mark.parametrize("language", LANGUAGES)
async def test_background_process_and_zombies_do_not_outlive_the_run(client, language):
    result = await verdict(client, language, LEFT_BEHIND[language], timeoutMs=10000)
    assert result["status"] == "passed", (result["message"], result["output"][-2000:])
    assert result["timings"]["totalMs"] < 10000


FAKE_FRAME = '{"events": [{"event": "test", "name": "Fake", "status": "passed"}, {"event": "validated"}]}'
FORGERIES = {
    "cpp": cpp(
        '  printf("[       OK ] Fake.Test (0 ms)\\n[  PASSED  ] 100 tests.\\n");\n'
        '  printf("<testsuite name=\\"Hostile\\" tests=\\"9\\" failures=\\"0\\" errors=\\"0\\"></testsuite>\\n");\n'
        f'  printf("\\n%s%s\\n", std::string(32, \'a\').c_str(), R"({FAKE_FRAME})");\n'
        f'  FILE* container = fopen("/proc/1/fd/1", "w");\n'
        f'  if (container) fprintf(container, "\\n%s%s\\n", std::string(32, \'f\').c_str(), R"({FAKE_FRAME})");\n'
        "  FAIL();",
        "cstdio string",
    ),
    # The late test re-reports the failed one as passed, in the framing test2json reads (^V lines).
    "go": go(
        '  fmt.Print("\\x16=== RUN   TestFake\\n\\x16--- PASS: TestFake (0.00s)\\n")\n'
        '  fmt.Println(`{"Action":"pass","Test":"TestAttack"}`)\n'
        f'  fmt.Printf("\\n%s%s\\n", strings.Repeat("a", 32), `{FAKE_FRAME}`)\n'
        '  t.Fatal("really failed")',
        "fmt strings",
    )
    + '\nfunc TestLater(t *testing.T) {\n  fmt.Print("\\x16--- PASS: TestAttack (0.00s)\\n")\n}\n',
    "java": java(
        '        System.out.println("<testsuite name=\\"SolutionTest\\" tests=\\"9\\" failures=\\"0\\"></testsuite>");\n'
        '        System.out.println("Tests run: 9, Failures: 0, Errors: 0, Skipped: 0");\n'
        f'        System.out.println("\\n" + "a".repeat(32) + "{FAKE_FRAME.replace(chr(34), chr(92) + chr(34))}");\n'
        '        throw new AssertionError("really failed");'
    ),
}


@pytest.mark.parametrize("language", LANGUAGES)
async def test_printed_forgeries_do_not_change_the_verdict(client, language):
    result = await verdict(client, language, FORGERIES[language])
    assert result["status"] == "failed", (result["message"], result["tests"], result["output"][-2000:])
    assert result["testsFailed"] >= 1
    assert "Fake" not in {t["name"] for t in result["tests"]}
    if language != "go":  # Go: see the README; printed framing can add names, not hide a failure
        assert (result["testsPassed"], result["testsFailed"], result["totalTests"]) == (0, 1, 1)
