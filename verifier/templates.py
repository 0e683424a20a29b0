"""Adobe's folder name templates (`%DATASET_ID%`, `%DATETIME(YYYYMMdd_HHmmss)%`, ...) as matchers.

A template is split at `/` into one pattern per folder level; each macro becomes a regular
expression. An export folder is a path whose levels match every pattern; its dataset comes from
`%DATASET_ID%` and its time from `%EXPORT_TIME%` (`exportTime=YYYYMMDDHHMM`) or `%DATETIME(...)%`.
Macros verifier cannot know (`%DESTINATION%`, `%SANDBOX_NAME%`, ...) match any text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

DEFAULT = "%DATASET_ID%/%EXPORT_TIME%"
_MACRO = re.compile(r"%([A-Z_]+)(?:\(([^)%]*)\))?%")
_FREE = {  # documented macros whose value verifier cannot know
    "DATASET_NAME",
    "DESTINATION",
    "DESTINATION_NAME",
    "DESTINATION_INSTANCE_NAME",
    "DESTINATION_INSTANCE_ID",
    "SANDBOX_NAME",
    "ORGANIZATION_NAME",
}
# DATETIME's pattern letters (Java style, as Adobe writes them) -> (digits, strptime code)
_DT = {
    "yyyy": (4, "%Y"),
    "YYYY": (4, "%Y"),
    "MM": (2, "%m"),
    "dd": (2, "%d"),
    "HH": (2, "%H"),
    "mm": (2, "%M"),
    "ss": (2, "%S"),
}
_DT_TOKEN = re.compile("|".join(sorted(map(re.escape, _DT), key=len, reverse=True)))


class TemplateError(ValueError):
    pass


@dataclass(frozen=True)
class Template:
    text: str
    levels: tuple[re.Pattern[str], ...]
    strptime: str | None  # for %DATETIME(...)%; None when the time is %EXPORT_TIME%

    def match(self, parts: list[str]) -> tuple[str, datetime, str] | None:
        """(dataset id, export time, raw 12/14-digit time) for a path's levels, or None."""
        if len(parts) != len(self.levels):
            return None
        found: dict[str, str] = {}
        for part, pattern in zip(parts, self.levels, strict=True):
            m = pattern.fullmatch(part)
            if m is None:
                return None
            found.update({k: v for k, v in m.groupdict().items() if v is not None})
        when = self._time(found)
        if when is None or "ds" not in found:
            return None
        digits = when.strftime("%Y%m%d%H%M%S" if when.second else "%Y%m%d%H%M")
        return found["ds"], when, digits

    def _time(self, found: dict[str, str]) -> datetime | None:
        from verifier.timeutil import parse_export_time

        if "et" in found:
            return parse_export_time(found["et"])
        if "dt" in found and self.strptime:
            try:
                return datetime.strptime(found["dt"], self.strptime).replace(tzinfo=UTC)
            except ValueError:
                return None
        return None


def compile_template(text: str) -> Template:
    """Raise TemplateError (saying what to change) for a template verifier cannot scan."""
    text = text.strip().strip("/")
    if not text:
        raise TemplateError(
            '"/" alone writes the files of every dataset and every export into one folder, and Adobe names '
            "the files at random (part-00000-tid-...): neither the dataset nor the export time can be told "
            "from them, so nothing could be verified. Change the dataflow's folder name template in "
            "Experience Platform to one with %DATASET_ID% and %EXPORT_TIME% (the default is "
            "%DATASET_ID%/%EXPORT_TIME%); exports written after that can be verified (docs/aep.md section 6)"
        )
    levels, strptime, seen = [], None, set()
    for level in text.split("/"):
        if not level:
            raise TemplateError(f"{text!r}: an empty folder level (//)")
        pattern, pos = [], 0
        for m in _MACRO.finditer(level):
            pattern.append(re.escape(level[pos : m.start()]))
            name, arg = m.group(1), m.group(2)
            if name in seen and name in ("DATASET_ID", "EXPORT_TIME", "DATETIME"):
                raise TemplateError(f"{text!r}: %{name}% twice")
            seen.add(name)
            if name == "DATASET_ID":
                pattern.append(r"(?P<ds>[^/_]+)" if level != m.group(0) else r"(?P<ds>[^/]+)")
            elif name == "EXPORT_TIME":
                pattern.append(r"exportTime=(?P<et>\d{12}|\d{14})")
            elif name == "DATETIME":
                regex, strptime = _datetime(arg or "YYYYMMdd_HHmmss", text)
                pattern.append(f"(?P<dt>{regex})")
            elif name in _FREE:
                pattern.append(r"[^/]+?")
            else:
                raise TemplateError(f"{text!r}: unknown macro %{name}%; Adobe's are %DATASET_ID%, %EXPORT_TIME%, ...")
            pos = m.end()
        pattern.append(re.escape(level[pos:]))
        levels.append(re.compile("".join(pattern)))
    if "DATASET_ID" not in seen or not seen & {"EXPORT_TIME", "DATETIME"}:
        raise TemplateError(
            f"{text!r}: verifier can only tell exports apart with %DATASET_ID% and %EXPORT_TIME% or %DATETIME(...)% "
            "in the template"
        )
    return Template(text, tuple(levels), strptime)


def _datetime(fmt: str, text: str) -> tuple[str, str]:
    regex, code, pos = [], [], 0
    for m in _DT_TOKEN.finditer(fmt):
        lit = fmt[pos : m.start()]
        if re.search(r"[A-Za-z]", lit):
            raise TemplateError(f"{text!r}: %DATETIME({fmt})% has letters verifier does not know ({lit!r})")
        regex.append(re.escape(lit))
        code.append(lit.replace("%", "%%"))
        digits, c = _DT[m.group(0)]
        regex.append(rf"\d{{{digits}}}")
        code.append(c)
        pos = m.end()
    tail = fmt[pos:]
    if re.search(r"[A-Za-z]", tail):
        raise TemplateError(f"{text!r}: %DATETIME({fmt})% has letters verifier does not know ({tail!r})")
    regex.append(re.escape(tail))
    code.append(tail.replace("%", "%%"))
    return "".join(regex), "".join(code)
