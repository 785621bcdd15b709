"""The curated libraries of the runner images (`Language.libraries`), one table for every language.

Each language that declares libraries keeps its cases under `handlers/<lang>/example/libraries/`:
`uses/`, a solution and tests that use two or more of them (must pass), and `missing/`, a solution
that imports a library the image does not have, with `expect.json` naming the status it must get
and the library its message must name. Adding a language adds its folder; nothing here changes."""

from __future__ import annotations

import json

import pytest
from helpers import HANDLERS, example, validate

from phronosd.images import Images, build_context, library_packages
from phronosd.languages import Registry, upstream_version

REGISTRY = Registry.discover()
WITH_LIBRARIES = sorted(name for name, language in REGISTRY.languages.items() if language.libraries)


def test_every_language_has_libraries_and_their_cases():
    assert WITH_LIBRARIES == sorted(REGISTRY.languages)
    for name in WITH_LIBRARIES:
        cases = HANDLERS / name / "example" / "libraries"
        assert (cases / "uses").is_dir() and (cases / "missing" / "expect.json").is_file(), name


def test_an_image_without_libraries_is_another_tag_built_without_them():
    languages = [REGISTRY.get(name) for name in WITH_LIBRARIES]
    full, small = Images(None, "p-", languages), Images(None, "p-", languages, with_libraries=False)
    for language in languages:
        assert full.tags[language.name] != small.tags[language.name]
        assert small.libraries[language.name] == ""
        assert set(full.libraries[language.name].split()) == set(language.libraries.values())
        # the content hash alone is the tag of an image without libraries
        assert small.tags[language.name].endswith(build_context(language.name)[1])
        assert library_packages(language, False) == ""


def test_languages_list_only_the_libraries_installed_in_the_image():
    python = REGISTRY.get("python")
    numpy = python.libraries["numpy"]
    described = python.describe({numpy: "1:2.2.4+ds-1", "python3": "3.13.5-1"})
    assert described["libraries"] == [{"name": "numpy", "version": "2.2.4", "package": numpy}]
    assert python.describe({})["libraries"] == []


@pytest.mark.parametrize(
    "debian, upstream",
    [
        ("1:2.2.4+ds-1", "2.2.4"),
        ("3.13.5-1", "3.13.5"),
        ("1:2.3.4+dfsg-1~bpo12+1", "2.3.4"),
        ("0.0~git20231006.7918f67-1", "0.0~git20231006.7918f67"),
        ("1.2.3~rc1-2", "1.2.3"),
        ("", None),
    ],
)
def test_a_library_version_is_the_upstream_part_of_its_debian_version(debian, upstream):
    assert upstream_version(debian) == upstream


@pytest.mark.parametrize("language", WITH_LIBRARIES)
async def test_a_solution_using_the_libraries_passes(client, require_image, language):
    require_image(language)
    solution, tests = example(language, "libraries/uses")
    result = await validate(client, language, solution, tests)
    assert result["status"] == "passed", (result["message"], result["tests"], result["output"][-3000:])
    assert result["totalTests"] >= 2


@pytest.mark.parametrize("language", WITH_LIBRARIES)
async def test_a_library_the_image_lacks_is_named(client, require_image, language):
    require_image(language)
    solution, tests = example(language, "libraries/missing")
    expect = json.loads((HANDLERS / language / "example" / "libraries" / "missing" / "expect.json").read_text())
    result = await validate(client, language, solution, tests)
    said = " ".join([result["message"] or "", *(t["message"] or "" for t in result["tests"])])
    assert result["status"] == expect["status"] and result["passed"] is False, (result["status"], said)
    assert expect["library"] in said, said


async def test_the_languages_endpoint_lists_every_library_with_its_version(client, require_image):
    for name in WITH_LIBRARIES:
        require_image(name)
    response = await client.get("/api/languages")
    listed = {entry["name"]: entry["libraries"] for entry in (await response.json())["languages"]}
    for name in WITH_LIBRARIES:
        libraries = {library["name"]: library["version"] for library in listed[name]}
        assert set(libraries) == set(REGISTRY.get(name).libraries), name
        assert all(libraries.values()), (name, libraries)
