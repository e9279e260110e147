"""Setuptools hook: ship the trained runs under checkpoints/ inside the package.

``idff.load("fashion_mnist/idff")`` then works from an installed wheel as from a clone
(``idff.runs.resolve``). Everything else is configured in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

#: the runs of checkpoints/ that ship (idff.runs.SHIPPED): their config and EMA weights
SHIPPED = ("fashion_mnist/idff", "fashion_mnist/otcfm", "fashion_mnist/icfm",
           "fashion_mnist/idff-b128", "fashion_mnist/otcfm-b128",
           "fashion_mnist/idff-b128-student", "fashion_mnist/otcfm-b128-student")
FILES = ("config.json", "snapshot.pt", "snapshot.safetensors")


class BuildWithRuns(build_py):
    def run(self):
        super().run()
        root = Path(__file__).resolve().parent / "checkpoints"
        for name in SHIPPED:
            dest = Path(self.build_lib) / "idff" / "checkpoints" / name
            found = [root / name / f for f in FILES if (root / name / f).is_file()]
            if not found:
                raise SystemExit(f"checkpoints/{name} is missing; the wheel ships it.")
            dest.mkdir(parents=True, exist_ok=True)
            for src in found:
                shutil.copy2(src, dest / src.name)


setup(cmdclass={"build_py": BuildWithRuns})
