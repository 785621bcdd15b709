"""The test suites of the shapes every language is tested on (`test_across_languages.py`), one per
language: the solution under test is the language's example solution, so a case's suite needs only
the language's test boilerplate. A language with no row for a case is not run on it; a language that
turns on a registry flag (`poolable`) must have a row in every case its tests use, which a fast test
checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Case:
    """A test suite, the request fields it is sent with, and what the verdict must say."""

    tests: str
    options: dict[str, Any] = field(default_factory=dict)
    message: str = ""  # in the verdict's message
    output: str = ""  # in the captured output


def go_tests(*bodies: str, imports: tuple[str, ...] = ("testing",)) -> str:
    lines = "\n".join(f'\t"{name}"' for name in imports)
    return "package solution\n\nimport (\n" + lines + "\n)\n\n" + "\n\n".join(bodies) + "\n"


def junit(*members: str, imports: tuple[str, ...] = ()) -> str:
    header = "".join(f"import {name};\n" for name in imports)
    return (header + "\n" if header else "") + "class CaseTest {\n" + "\n".join(members) + "}\n"


# An endless loop inside a test: `timeout`, within the request's `timeoutMs`.
FOREVER: dict[str, Case] = {
    "python": Case("def test_forever():\n    while True:\n        pass\n", {"timeoutMs": 2000}),
    "rust": Case(
        "#[test]\nfn forever() {\n    loop {\n        std::hint::black_box(0);\n    }\n}\n", {"timeoutMs": 4000}
    ),
    "go": Case(go_tests("func TestForever(t *testing.T) {\n\tfor {\n\t}\n}"), {"timeoutMs": 3000}),
    "cpp": Case("TEST(A, Forever) { volatile bool go = true; while (go) {} }\n", {"timeoutMs": 3000}),
    "java": Case(
        junit("    @org.junit.jupiter.api.Test void forever() { while (true) { Thread.onSpinWait(); } }\n"),
        {"timeoutMs": 4000},
    ),
    "javascript": Case("test('forever', () => { for (;;) {} });\n", {"timeoutMs": 3000}),
    "typescript": Case("test('forever', () => { for (;;) {} });\n", {"timeoutMs": 3000}),
}

# Memory that grows until something stops it: `memory_limit`.
MEMORY: dict[str, Case] = {
    "python": Case("def test_alloc():\n    blob = bytearray(2 * 1024 ** 3)\n    assert blob\n", {"memoryMb": 256}),
    "rust": Case(
        "#[test]\nfn grow() {\n    let mut blocks = Vec::new();\n    loop {\n        blocks.push(vec![1u8; 16 << 20]);\n    }\n}\n",
        {"memoryMb": 384},
    ),
    "go": Case(
        go_tests(
            "func TestGrow(t *testing.T) {\n\tvar blocks [][]byte\n\tfor {\n"
            "\t\tb := make([]byte, 16<<20)\n\t\tfor i := range b {\n\t\t\tb[i] = 1\n\t\t}\n"
            "\t\tblocks = append(blocks, b)\n\t}\n}"
        ),
        {"memoryMb": 256},
    ),
    "cpp": Case(
        "#include <vector>\n#include <cstring>\n"
        "TEST(A, Grow) {\n"
        "  std::vector<char*> blocks;\n"
        "  for (;;) { char* b = new char[1 << 24]; std::memset(b, 1, 1 << 24); blocks.push_back(b); }\n"
        "}\n",
        {"memoryMb": 256},
    ),
    # The JVM's own heap limit stops it first (the default memoryMb).
    "java": Case(
        junit(
            "    @org.junit.jupiter.api.Test void grows() {\n"
            "        List<long[]> blocks = new ArrayList<>();\n"
            "        while (true) { blocks.add(new long[1 << 20]); }\n"
            "    }\n",
            imports=("java.util.ArrayList", "java.util.List"),
        ),
        message="OutOfMemoryError",
    ),
    # Below V8's heap limit: the kernel's OOM killer stops it.
    "javascript": Case(
        "test('grow', () => { const a = []; for (;;) a.push(new Array(1e6).fill(1)); });\n",
        {"memoryMb": 256, "timeoutMs": 60000},
        message="memory limit",
    ),
    "typescript": Case(
        "test('grow', () => { const a: number[][] = []; for (;;) a.push(new Array(1000).fill(1)); });\n",
        {"memoryMb": 256, "timeoutMs": 20000},
    ),
}

# The suite passes only when connecting out (and, where it says so, resolving a name) fails.
NETWORK: dict[str, Case] = {
    "python": Case(
        "import socket\nimport pytest\n\n"
        "def test_connect():\n"
        "    with pytest.raises(OSError):\n"
        "        socket.create_connection(('1.1.1.1', 53), timeout=2)\n"
        "    with pytest.raises(OSError):\n"
        "        socket.getaddrinfo('deb.debian.org', 80)\n"
    ),
    "rust": Case(
        "use std::net::{TcpStream, ToSocketAddrs};\nuse std::time::Duration;\n\n"
        "#[test]\nfn no_network() {\n"
        '    assert!(TcpStream::connect_timeout(&"1.1.1.1:53".parse().unwrap(), Duration::from_secs(2)).is_err());\n'
        '    assert!("deb.debian.org:80".to_socket_addrs().is_err());\n}\n'
    ),
    "go": Case(
        go_tests(
            "func TestDial(t *testing.T) {\n"
            '\tif _, err := net.DialTimeout("tcp", "1.1.1.1:53", 2*time.Second); err == nil {\n\t\tt.Fatal("dialled out")\n\t}\n'
            '\tif _, err := net.LookupHost("deb.debian.org"); err == nil {\n\t\tt.Fatal("resolved a name")\n\t}\n}',
            imports=("net", "testing", "time"),
        )
    ),
    "cpp": Case(
        "#include <arpa/inet.h>\n#include <netinet/in.h>\n#include <sys/socket.h>\n#include <unistd.h>\n"
        "TEST(Net, ConnectFails) {\n"
        "  int s = socket(AF_INET, SOCK_STREAM, 0);\n"
        "  sockaddr_in addr{};\n"
        "  addr.sin_family = AF_INET;\n"
        "  addr.sin_port = htons(53);\n"
        '  inet_pton(AF_INET, "1.1.1.1", &addr.sin_addr);\n'
        "  EXPECT_NE(connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);\n"
        "  close(s);\n"
        "}\n"
    ),
    "java": Case(
        "import static org.junit.jupiter.api.Assertions.assertThrows;\n\n"
        + junit(
            "    @org.junit.jupiter.api.Test void connectFails() {\n"
            '        assertThrows(IOException.class, () -> new Socket().connect(new InetSocketAddress("1.1.1.1", 53), 2000));\n'
            "    }\n",
            imports=("java.io.IOException", "java.net.InetSocketAddress", "java.net.Socket"),
        )
    ),
    "javascript": Case(
        "const net = require('net');\n"
        "test('connect', async () => {\n"
        "  await expect(new Promise((resolve, reject) => {\n"
        "    net.connect({ host: '1.1.1.1', port: 53 }, () => resolve('connected')).on('error', reject);\n"
        "  })).rejects.toThrow();\n"
        "});\n"
    ),
    "typescript": Case(
        "import * as net from 'net';\n"
        "test('connect', async () => {\n"
        "  await expect(new Promise((resolve, reject) => {\n"
        "    net.connect({ host: '1.1.1.1', port: 53 }, () => resolve('connected')).on('error', reject);\n"
        "  })).rejects.toThrow();\n"
        "});\n"
    ),
}

# A test that ends the process with status 0 before the suite is done: never a pass. (Rust, Go and
# JavaScript test richer variants of this in their own modules.)
EXIT_ZERO: dict[str, Case] = {
    "python": Case(
        "import os\nfrom solution import fib\n\ndef test_a():\n    os._exit(0)\n\ndef test_b():\n    assert fib(1) == 1\n",
        message="exited with code 0",
    ),
    "cpp": Case(
        "#include <cstdlib>\nTEST(A, Ok) {}\nTEST(A, Exit) { std::exit(0); }\nTEST(A, After) {}\n",
        message="exited with code 0",
    ),
    "java": Case(junit("    @org.junit.jupiter.api.Test void quits() { System.exit(0); }\n"), output="System.exit"),
    "typescript": Case("test('a', () => { process.exit(0); });\ntest('b', () => { expect(1).toBe(1); });\n"),
}

# Traces a job leaves (a file in its work dir, one in /tmp, a process in a session of its own), and a
# suite that passes only when it sees none of them: run in turn in pooled containers.
LEAVE_TRACES: dict[str, Case] = {
    "python": Case(
        "import subprocess\n\n"
        "def test_leave_traces():\n"
        "    open('left.txt', 'w').write('x')\n"
        "    open('/tmp/left.txt', 'w').write('x')\n"
        "    subprocess.Popen(['sleep', '300'], start_new_session=True)\n"
    ),
    "rust": Case(
        "use std::os::unix::process::CommandExt;\n\n"
        "#[test]\nfn leave_traces() {\n"
        '    std::fs::write("left.txt", "x").unwrap();\n'
        '    std::fs::write("/tmp/left.txt", "x").unwrap();\n'
        '    std::process::Command::new("sleep").arg("300").process_group(0).spawn().unwrap();\n}\n'
    ),
    "go": Case(
        go_tests(
            "func TestLeaveTraces(t *testing.T) {\n"
            '\tfor _, path := range []string{"left.txt", "/tmp/left.txt"} {\n'
            '\t\tif err := os.WriteFile(path, []byte("x"), 0o644); err != nil {\n\t\t\tt.Fatal(err)\n\t\t}\n\t}\n'
            '\tsleep := exec.Command("sleep", "300")\n'
            "\tsleep.SysProcAttr = &syscall.SysProcAttr{Setsid: true}\n"
            "\tif err := sleep.Start(); err != nil {\n\t\tt.Fatal(err)\n\t}\n}",
            imports=("os", "os/exec", "syscall", "testing"),
        )
    ),
    "cpp": Case(
        "#include <fstream>\n#include <unistd.h>\n"
        "TEST(Traces, Leave) {\n"
        '  for (const char* path : {"left.txt", "/tmp/left.txt"}) {\n'
        "    std::ofstream out(path);\n"
        '    out << "x";\n'
        "    ASSERT_TRUE(out.good()) << path;\n"
        "  }\n"
        '  if (fork() == 0) { setsid(); execlp("sleep", "sleep", "300", nullptr); _exit(1); }\n'
        "}\n"
    ),
    "java": Case(
        junit(
            "    @org.junit.jupiter.api.Test void leaveTraces() throws Exception {\n"
            '        Files.writeString(Path.of("left.txt"), "x");\n'
            '        Files.writeString(Path.of("/tmp/left.txt"), "x");\n'
            '        new ProcessBuilder("setsid", "sleep", "300").start();\n'
            "    }\n",
            imports=("java.nio.file.Files", "java.nio.file.Path"),
        )
    ),
    "javascript": Case(
        "const fs = require('fs');\nconst { spawn } = require('child_process');\n"
        "test('leave traces', () => {\n"
        "  fs.writeFileSync('left.txt', 'x');\n"
        "  fs.writeFileSync('/tmp/left.txt', 'x');\n"
        "  spawn('sleep', ['300'], { detached: true, stdio: 'ignore' }).unref();\n"
        "});\n"
    ),
    "typescript": Case(
        "import * as fs from 'fs';\nimport { spawn } from 'child_process';\n"
        "test('leave traces', () => {\n"
        "  fs.writeFileSync('left.txt', 'x');\n"
        "  fs.writeFileSync('/tmp/left.txt', 'x');\n"
        "  spawn('sleep', ['300'], { detached: true, stdio: 'ignore' }).unref();\n"
        "});\n"
    ),
}

JS_SEE_NO_TRACES = (
    "test('no traces', () => {\n"
    "  expect(fs.existsSync('left.txt')).toBe(false);\n"
    "  expect(fs.existsSync('/tmp/left.txt')).toBe(false);\n"
    "  const commands = fs.readdirSync('/proc').filter((p) => /^[0-9]+$/.test(p)).map((p) => {\n"
    "    try { return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8'); } catch (e) { return ''; }\n"
    "  });\n"
    "  expect(commands.filter((c) => c.startsWith('sleep'))).toEqual([]);\n"
    "});\n"
)

SEE_NO_TRACES: dict[str, Case] = {
    "python": Case(
        "import os\n\n"
        "def test_no_traces():\n"
        "    assert not os.path.exists('left.txt')\n"
        "    assert not os.path.exists('/tmp/left.txt')\n"
        "    commands = [open(f'/proc/{p}/cmdline').read() for p in os.listdir('/proc') if p.isdigit()]\n"
        "    assert not [c for c in commands if c.startswith('sleep')], commands\n"
    ),
    "rust": Case(
        "#[test]\nfn no_traces() {\n"
        '    assert!(!std::path::Path::new("left.txt").exists());\n'
        '    assert!(!std::path::Path::new("/tmp/left.txt").exists());\n'
        '    for entry in std::fs::read_dir("/proc").unwrap().flatten() {\n'
        '        let command = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();\n'
        '        assert!(!command.starts_with(b"sleep"), "a sleep process is left");\n'
        "    }\n}\n"
    ),
    "go": Case(
        go_tests(
            "func TestNoTraces(t *testing.T) {\n"
            '\tfor _, path := range []string{"left.txt", "/tmp/left.txt"} {\n'
            '\t\tif _, err := os.Stat(path); err == nil {\n\t\t\tt.Fatalf("%s is left", path)\n\t\t}\n\t}\n'
            '\tentries, err := os.ReadDir("/proc")\n'
            "\tif err != nil {\n\t\tt.Fatal(err)\n\t}\n"
            "\tfor _, entry := range entries {\n"
            '\t\tcommand, _ := os.ReadFile("/proc/" + entry.Name() + "/cmdline")\n'
            '\t\tif strings.HasPrefix(string(command), "sleep") {\n\t\t\tt.Fatal("a sleep process is left")\n\t\t}\n'
            "\t}\n}",
            imports=("os", "strings", "testing"),
        )
    ),
    "cpp": Case(
        "#include <filesystem>\n#include <fstream>\n#include <string>\n"
        "TEST(Traces, None) {\n"
        '  EXPECT_FALSE(std::filesystem::exists("left.txt"));\n'
        '  EXPECT_FALSE(std::filesystem::exists("/tmp/left.txt"));\n'
        '  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {\n'
        '    std::ifstream cmdline(entry.path() / "cmdline");\n'
        "    std::string command;\n"
        "    std::getline(cmdline, command, '\\0');\n"
        '    EXPECT_NE(command, "sleep");\n'
        "  }\n"
        "}\n"
    ),
    "java": Case(
        "import static org.junit.jupiter.api.Assertions.assertFalse;\n\n"
        + junit(
            "    @org.junit.jupiter.api.Test void noTraces() {\n"
            '        assertFalse(Files.exists(Path.of("left.txt")));\n'
            '        assertFalse(Files.exists(Path.of("/tmp/left.txt")));\n'
            "        assertFalse(ProcessHandle.allProcesses()\n"
            '            .anyMatch(p -> p.info().command().orElse("").endsWith("/sleep")), "a sleep process is left");\n'
            "    }\n",
            imports=("java.nio.file.Files", "java.nio.file.Path"),
        )
    ),
    "javascript": Case("const fs = require('fs');\n" + JS_SEE_NO_TRACES),
    "typescript": Case("import * as fs from 'fs';\n" + JS_SEE_NO_TRACES),
}
