"""The command line: --version, --help, --check-config, --generate-config,
CLI overrides, and RustSocks' own config files, through the real binary."""
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.abspath(os.environ.get("CSOCKS_BIN", os.path.join(ROOT, "build", "csocks")))
FIXTURES = os.path.join(ROOT, "tests", "data", "rustsocks")
# RustSocks' own files, when a copy sits beside the source tree (optional).
REF = os.path.join(os.path.dirname(ROOT), "shared", "reference", "rustsocks-config")
NO_REF = "RustSocks' own config files not found beside the source tree " \
    "(optional: shared/reference/rustsocks-config)"
FIXTURE_CONFIGS = [
    "rustsocks.toml", "rustsocks_minimal.toml", "examples/rustsocks-ad.toml",
    "examples/rustsocks-dashboard-auth.toml", "examples/rustsocks-gssapi.toml",
]


def run(*args, cwd=None, stdin=None):
    return subprocess.run([BIN, *args], cwd=cwd, input=stdin, capture_output=True,
                          text=True, timeout=30)


@pytest.fixture
def workdir():
    d = tempfile.mkdtemp(prefix="csocks-cli-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_version():
    """The version is meson.build's project version (the one place it is
    set; debian/changelog is checked against it by scripts/package-test.sh)
    and the commit is the checkout's HEAD (or, for an older build, one of
    its ancestors)."""
    r = run("--version")
    assert r.returncode == 0
    root = os.path.join(os.path.dirname(__file__), "..", "..")
    with open(os.path.join(root, "meson.build")) as f:
        m = re.search(r"version\s*:\s*'([^']+)'", f.read())
    assert m, "no project version in meson.build"
    g = subprocess.run(["git", "-C", root, "rev-parse", "--short=12", "HEAD"],
                       capture_output=True, text=True)
    if g.returncode != 0:
        pytest.skip("not a git checkout: the commit is checked by scripts/package-test.sh")
    got = re.fullmatch(r"csocks (\S+) \(commit ([0-9a-f]{12})(-dirty)?\)\n", r.stdout)
    assert got, r.stdout
    assert got.group(1) == m.group(1)
    # HEAD when freshly built; an older build of this branch names an
    # ancestor of HEAD. Never "unknown" in a checkout.
    anc = subprocess.run(["git", "-C", root, "merge-base", "--is-ancestor", got.group(2), "HEAD"],
                         capture_output=True, text=True)
    assert anc.returncode == 0, f"{got.group(2)} is not HEAD ({g.stdout.strip()}) or an ancestor"


def test_help_lists_every_option():
    r = run("--help")
    assert r.returncode == 0
    for opt in ("--config", "--bind", "--port", "--log-level", "--check-config",
                "--generate-config", "--hash-password", "--version", "acl check", "acl test"):
        assert opt in r.stdout


def test_unknown_option_is_usage_error():
    r = run("--no-such-option")
    assert r.returncode == 2
    assert "Usage" in r.stderr


def test_generate_config_writes_a_loadable_file(workdir):
    path = os.path.join(workdir, "gen.toml")
    r = run("--generate-config", path)
    assert r.returncode == 0, r.stderr
    text = open(path).read()
    assert "[server]" in text and "bind_port = 1080" in text
    r = run("-c", path, "--check-config")
    assert r.returncode == 0, r.stderr
    assert "warning" not in r.stderr


def test_check_config_reports_file_and_line(workdir):
    path = os.path.join(workdir, "bad.toml")
    with open(path, "w") as f:
        f.write('[server]\nbind_address = "127.0.0.1"\nbind_port = "x"\n')
    r = run("-c", path, "--check-config")
    assert r.returncode == 1
    assert f"{path}:3: server.bind_port: expected integer, got string" in r.stderr


def test_check_config_syntax_error_has_column(workdir):
    path = os.path.join(workdir, "bad.toml")
    with open(path, "w") as f:
        f.write("[server\n")
    r = run("-c", path, "--check-config")
    assert r.returncode == 1
    assert f"{path}:1:" in r.stderr


def test_unknown_key_is_a_warning_not_an_error(workdir):
    path = os.path.join(workdir, "c.toml")
    with open(path, "w") as f:
        f.write("[server]\nbind_port = 1081\nfancy = true\n")
    r = run("-c", path, "--check-config")
    assert r.returncode == 0
    assert f"{path}:3: unknown key 'server.fancy'" in r.stderr


def test_missing_config_file():
    r = run("-c", "/nonexistent/csocks.toml", "--check-config")
    assert r.returncode == 1
    assert "/nonexistent/csocks.toml: No such file or directory" in r.stderr


def test_cli_overrides_are_validated():
    r = run("--port", "70000", "--check-config")
    assert r.returncode == 1
    assert "--port" in r.stderr
    r = run("--bind", "not-an-ip", "--check-config")
    assert r.returncode == 1
    assert "server.bind_address" in r.stderr
    r = run("--log-level", "chatty", "--check-config")
    assert r.returncode == 1
    assert "logging.level" in r.stderr
    r = run("--bind", "::1", "--port", "1099", "--log-level", "debug", "--check-config")
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("name", FIXTURE_CONFIGS)
def test_rustsocks_format_fixtures_load_unchanged(workdir, name):
    # The layout RustSocks expects relative to its working directory.
    os.makedirs(os.path.join(workdir, "config"))
    os.makedirs(os.path.join(workdir, "data"))
    shutil.copy(os.path.join(FIXTURES, "acl.toml"), os.path.join(workdir, "config", "acl.toml"))
    r = run("-c", os.path.join(FIXTURES, name), "--check-config", cwd=workdir)
    assert r.returncode == 0, r.stderr
    assert "unknown key" not in r.stderr


@pytest.mark.parametrize("name", ["acl.toml", "examples/acl-ad.toml"])
def test_rustsocks_format_acl_fixtures_check(name):
    r = run("acl", "check", os.path.join(FIXTURES, name))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 warnings" in r.stdout


@pytest.mark.skipif(not os.path.isdir(REF), reason=NO_REF)
@pytest.mark.parametrize("name", [
    "rustsocks.toml", "rustsocks.example.toml", "rustsocks_minimal.toml",
    "examples/rustsocks-ad.toml", "examples/rustsocks-dashboard-auth.toml",
    "examples/rustsocks-gssapi.toml",
])
def test_rustsocks_files_load_unchanged(workdir, name):
    # The layout RustSocks expects relative to its working directory.
    os.makedirs(os.path.join(workdir, "config"))
    os.makedirs(os.path.join(workdir, "data"))
    shutil.copy(os.path.join(REF, "acl.toml"), os.path.join(workdir, "config", "acl.toml"))
    r = run("-c", os.path.join(REF, name), "--check-config", cwd=workdir)
    assert r.returncode == 0, r.stderr


def test_shipped_default_config_is_valid(workdir):
    os.makedirs(os.path.join(workdir, "var"))
    r = run("-c", os.path.join(ROOT, "config", "csocks.toml"), "--check-config", cwd=workdir)
    assert r.returncode == 0, r.stderr


def test_docs_configuration_reference_is_current():
    r = run("--config-reference")
    assert r.returncode == 0
    doc = open(os.path.join(ROOT, "docs", "configuration.md")).read()
    assert r.stdout.strip() in doc, "run scripts/gen-docs.sh to refresh docs/configuration.md"


def test_hash_password_makes_a_usable_hash():
    r = run("--hash-password", stdin="correct horse\n")
    assert r.returncode == 0, r.stderr
    h = r.stdout.strip()
    assert h.startswith("$y$")
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
    assert crypt.crypt("correct horse", h) == h
    r = run("--hash-password", stdin="")
    assert r.returncode == 1


# RustSocks creates the SQLite file's parent folders (create_dir_all), so
# does csocks at start; --check-config only says it will.
SQLITE_IN_DATA = {"sessions": {"enabled": True, "storage": "sqlite",
                               "database_url": "sqlite://data/sessions.db"}}


def test_check_config_says_sqlite_folder_will_be_created(workdir):
    os.makedirs(os.path.join(workdir, "config"))
    shutil.copy(os.path.join(FIXTURES, "acl.toml"), os.path.join(workdir, "config", "acl.toml"))
    cfg = os.path.join(FIXTURES, "examples", "rustsocks-ad.toml")
    r = run("--check-config", "-c", cfg, cwd=workdir)
    assert r.returncode == 0, r.stderr
    assert f"{cfg}:" in r.stderr and "sessions.database_url: data: will be created" in r.stderr
    assert "error" not in r.stderr
    assert sorted(os.listdir(workdir)) == ["config"]  # nothing created


def test_check_config_sqlite_folder_under_a_file_is_an_error(workdir):
    open(os.path.join(workdir, "data"), "w").close()
    path = os.path.join(workdir, "c.toml")
    with open(path, "w") as f:
        f.write('[sessions]\nenabled = true\nstorage = "sqlite"\n'
                'database_url = "sqlite://data/sub/s.db"\n')
    r = run("--check-config", "-c", path, cwd=workdir)
    assert r.returncode == 1
    assert f"{path}:4: sessions.database_url: directory 'data': Not a directory" in r.stderr


def test_start_creates_sqlite_folder(start_csocks):
    p = start_csocks(SQLITE_IN_DATA)
    data = p.dir / "data"
    assert data.is_dir()
    assert (data.stat().st_mode & 0o7777) == 0o750
    deadline = time.monotonic() + 5
    while not (data / "sessions.db").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (data / "sessions.db").is_file()
    p.stop()


def test_start_fails_at_the_line_when_sqlite_folder_cannot_be_created(start_csocks):
    p = start_csocks({"sessions": {"enabled": True, "storage": "sqlite",
                                   "database_url": "sqlite:///proc/csocks-no/s.db"}},
                     wait=False)
    assert p.proc.wait(5) == 1
    assert "sessions.database_url: cannot create directory '/proc/csocks-no'" in p.log_text()
    assert f"{p.config_path}:" in p.log_text()


def _acl_config(workdir, acl_text, evaluation=None):
    acl = os.path.join(workdir, "acl.toml")
    with open(acl, "w") as f:
        f.write(acl_text)
    path = os.path.join(workdir, "c.toml")
    with open(path, "w") as f:
        f.write(f'[acl]\nenabled = true\nconfig_file = "{acl}"\n')
        if evaluation:
            f.write(f'evaluation = "{evaluation}"\n')
    return path, acl


def test_check_config_fails_on_an_invalid_acl_file(workdir):
    """--check-config loads the ACL file the config names, as start-up does:
    an invalid file is an error with its file:line, not "valid"."""
    path, acl = _acl_config(workdir, '[[users]]\nusername = "u"\n[[users.rules]]\n'
                            'action = "allow"\ndestinations = ["10.0.0.0/33"]\n'
                            'ports = ["*"]\n')
    r = run("-c", path, "--check-config")
    assert r.returncode == 1, r.stdout
    assert f"{acl}:" in r.stderr and "10.0.0.0/33" in r.stderr
    assert "configuration is valid" not in r.stdout


ORDER_ACL = ('[[users]]\nusername = "u"\n'
             '[[users.rules]]\naction = "allow"\ndestinations = ["www.social.com"]\n'
             'ports = ["443"]\npriority = 500\ndescription = "high allow"\n'
             '[[users.rules]]\naction = "block"\ndestinations = ["*.social.com"]\n'
             'ports = ["*"]\npriority = 10\ndescription = "low block"\n')


@pytest.mark.parametrize("mode", ["priority", "rustsocks"])
def test_check_config_names_the_mode_and_warns_of_a_difference(workdir, mode):
    path, acl = _acl_config(workdir, ORDER_ACL, mode)
    r = run("-c", path, "--check-config")
    assert r.returncode == 0, r.stderr
    assert f"evaluation {mode}" in r.stdout
    assert "the modes decide differently" in r.stderr
    assert "www.social.com:443" in r.stderr
    r = run("acl", "test", "-c", path, "--user", "u", "--dest", "www.social.com",
            "--port", "443")
    assert r.returncode == (0 if mode == "priority" else 2), r.stdout
    assert f"{mode} evaluation" in r.stdout
    assert ("high allow" if mode == "priority" else "low block") in r.stdout


def test_bad_evaluation_mode_is_a_config_error(workdir):
    path, _ = _acl_config(workdir, ORDER_ACL, "blockfirst")
    r = run("-c", path, "--check-config")
    assert r.returncode == 1
    assert f"{path}:4: acl.evaluation: unknown evaluation 'blockfirst'" in r.stderr


def test_man_page_keys_are_current():
    """man/csocks.toml.5's KEYS come from the schema table, like
    docs/configuration.md; scripts/gen-docs.sh refreshes both."""
    r = run("--config-reference=man")
    assert r.returncode == 0
    page = open(os.path.join(ROOT, "man", "csocks.toml.5")).read()
    m = re.search(r'^\.\\" BEGIN GENERATED KEYS[^\n]*\n(.*?)^\.\\" END GENERATED KEYS',
                  page, re.S | re.M)
    assert m, "no generated KEYS block in man/csocks.toml.5"
    assert m.group(1) == r.stdout, "run scripts/gen-docs.sh to refresh man/csocks.toml.5"
    # Every key of the schema is in the page.
    keys = re.findall(r"^\| `([a-z0-9_]+)` \|", run("--config-reference").stdout, re.M)
    assert len(keys) > 100
    for k in keys:
        assert "\n.B " + k.replace("-", "\\-") + "\n" in m.group(1), k


def test_config_reference_rejects_unknown_format():
    r = run("--config-reference=html")
    assert r.returncode == 2
    assert "not man or markdown" in r.stderr


@pytest.mark.parametrize("page", ["csocks.8", "csocks.toml.5", "csocks-acl.toml.5"])
def test_man_pages_render_without_warnings(page):
    # groff (scripts/deps.sh test) prints every warning on stderr.
    r = subprocess.run(["man", "--warnings", "-l", os.path.join(ROOT, "man", page)],
                       capture_output=True, text=True, env=dict(os.environ, MANWIDTH="80"))
    assert r.returncode == 0, r.stderr
    assert r.stderr == "", r.stderr
    assert "NAME" in r.stdout and "SEE ALSO" in r.stdout
