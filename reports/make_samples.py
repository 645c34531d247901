"""Write sample reports (scan report, batch index, signed audit) and Chromium screenshots.

    python reports/make_samples.py [--out DIR]

Builds a throwaway studio (fixtures/report_studio.py: real generations, one consent revoked
after its video), scans both videos, writes DIR/scan/ (pages + index.html), DIR/AUDIT.html
(+ .json, .json.sig) and, when Debian's chromium is installed, DIR/*.png screenshots.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fixtures.report_studio import make_report_studio  # noqa: E402


def screenshot(page: Path, png: Path) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        print("chromium not found: no screenshots (apt-get install chromium)", file=sys.stderr)
        return
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--hide-scrollbars",
                    f"--user-data-dir={png.parent / '.chromium'}", "--window-size=1100,2600",
                    f"--screenshot={png}", page.as_uri()], capture_output=True, check=False,
                   timeout=120)


def main(argv: list[str] | None = None) -> int:
    from trustavatar._cli.report import write_reports
    from trustavatar.detector import scan
    from trustavatar.reports import build_audit, write_audit

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/trustavatar-report-samples"))  # noqa: S108
    args = ap.parse_args(argv)
    if args.out.exists():
        shutil.rmtree(args.out)
    studio = make_report_studio(args.out / "studio")
    results = [scan(v, trust=studio.keystore.trust_store()).to_dict() for v in studio.videos]
    done = write_reports(results, [], str(args.out / "scan"), force=True)
    paths = write_audit(build_audit(studio.home), args.out / "AUDIT.html",
                        studio.keystore.signing_key())
    screenshot(Path(done["reports"][0]), args.out / "scan-report.png")
    screenshot(Path(done["index"]), args.out / "scan-index.png")
    screenshot(paths["html"], args.out / "audit-report.png")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
