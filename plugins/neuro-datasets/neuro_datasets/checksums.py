"""Checksums of the published Antolik et al. 2016 S1 dataset, embedded so a download can be verified.

SHA-256 of the files that are in ``shared/data/antolik2016/SHA256SUMS``; for the three
``training_inputs.npy`` files (not available to us byte for byte) their git blob ids:
SHA-1 over ``b"blob <size>\\0"`` followed by the file's bytes (PROVENANCE.md).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

SHA256 = {
    "Data/README": "3dcd66a398d0eaabfd5a38031aa90b1a574e87645e050c0fc7b2261c078389e3",
    "Data/region1/raw_validation_set.npy": "3ff518cee9d7dcde19525d11a294af09158a6b114f970dd01d43be278e7801dc",
    "Data/region1/training_set.npy": "fdd83ba4c6e548d615768f1eec5723e2bd0c804841bb5c2352e85a87c71c813c",
    "Data/region1/validation_inputs.npy": "a5269c567a431ed969301b75ffd39ba0c92432f583982e5742860cae92d392c9",
    "Data/region1/validation_set.npy": "6ff29f2e903c557b0cc0173075bc833366011c277e73ecd3449233de2f1060ad",
    "Data/region2/raw_validation_set.npy": "979ed05629561423b397d6c828a871229935262cf38e17f35a08da7f734733e8",
    "Data/region2/training_set.npy": "3b33bc42bb85bbebc51c2058fe322a522463d0b2b2a875e0d98784afa1182483",
    "Data/region2/validation_inputs.npy": "a5269c567a431ed969301b75ffd39ba0c92432f583982e5742860cae92d392c9",
    "Data/region2/validation_set.npy": "2259fe55bc47dc67da75da97e00e79d567c8ba10d477d34296d917825521053c",
    "Data/region3/raw_validation_set.npy": "be77780380f757a12fe16d84146b2e05ab269ab974559baa0cad13d8d26b351d",
    "Data/region3/training_set.npy": "9786b1805abb533804bbafccd48f26d2948559b14d79c6025ba518725e19e302",
    "Data/region3/validation_inputs.npy": "cd9bb58b89a9b64c8ea4ea12f6d97481e7cd8f7bd86258395b718c0ca55e4c1e",
    "Data/region3/validation_set.npy": "013fb1246f08e4cc180421af75becc3282b0e5bd2da3e46c85810125ae8dd629",
}

GIT_BLOB = {
    "Data/region1/training_inputs.npy": "25bd6a7def8597163033d762b81a8c1ebaee4ef5",
    "Data/region2/training_inputs.npy": "5651e3bdfe6d6f140d3236af14db0ddd1b56dd4d",
    "Data/region3/training_inputs.npy": "1ccc45c1c07c5002b9a01ca4793f03905eb2ce98",
}

# Sizes in bytes of every file of the dataset: they bound what a download and its unpacking may
# write (the training inputs' sizes are part of their git blob ids).
SIZES = {
    "Data/README": 305,
    "Data/region1/raw_validation_set.npy": 412080,
    "Data/region1/training_inputs.npy": 13838528,
    "Data/region1/training_set.npy": 1483280,
    "Data/region1/validation_inputs.npy": 384480,
    "Data/region1/validation_set.npy": 41280,
    "Data/region2/raw_validation_set.npy": 176080,
    "Data/region2/training_inputs.npy": 9687008,
    "Data/region2/training_set.npy": 554480,
    "Data/region2/validation_inputs.npy": 384480,
    "Data/region2/validation_set.npy": 22080,
    "Data/region3/raw_validation_set.npy": 489680,
    "Data/region3/training_inputs.npy": 13838528,
    "Data/region3/training_set.npy": 1468880,
    "Data/region3/validation_inputs.npy": 384480,
    "Data/region3/validation_set.npy": 40880,
}

EXPECTED = {"sha256": SHA256, "git_blob": GIT_BLOB}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def git_blob_id(path: Path) -> str:
    """The id git gives the file's content (``git hash-object``)."""
    digest = hashlib.sha1(f"blob {Path(path).stat().st_size}\0".encode())
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_tree(root: Path, expected: dict[str, dict[str, str]]) -> list[str]:
    """Problems found under ``root`` (paths relative to it, e.g. "Data/region1/..."); [] if all match."""
    problems = []
    checks = [("sha256", sha256_file), ("git_blob", git_blob_id)]
    for kind, func in checks:
        for rel, want in sorted(expected.get(kind, {}).items()):
            path = root / rel
            if not path.is_file():
                problems.append(f"{rel}: missing")
            elif func(path) != want:
                problems.append(f"{rel}: {kind} mismatch")
    return problems
