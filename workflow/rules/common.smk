# Helpers shared by the rules: the year list, the acquisition scope, file lists. Plain functions
# (no lambdas inside rules); they only read `config`. The Snakefile's validate(config, schema) has
# filled every default of workflow/schemas/config.schema.yaml, so the rules read config[...] and
# never repeat a default; .get(key) is kept only for a key the schema leaves unset on purpose
# (comtrade.tariffline.source: unset follows comtrade.source). The rule scripts turn the params into
# reeflow.settings dataclasses.

import glob
import hashlib
import os
import re
import sys
from pathlib import Path


sys.path.insert(0, str(Path(workflow.basedir) / "scripts"))

from reeflow.smk import (  # noqa: E402
    MFA_YEAR_TABLES,
    MfaSettings,
    cleaning_records,
    cmd_codes_to_request,
    code_digest,
    download_url,
    keyed_requests,
    load_commodities,
    plan_releases,
    releases_from_config,
    resolve_trade_source,
    setting_keys,
    source_line,
)

ENV = "../../envs/reeflow.yaml"
# Which ready job runs first (higher first; unlisted rules 0). The per-year chain goes depth first
# (a year's MFA and shocks before the next year's cleaning), and the cross-year jobs on the longest
# chain (collect_mfa -> stocks, stocks_range -> their figure) and the slowest figures before the
# quick ones, so that no core idles at the end waiting for one late job. Used with the greedy
# scheduler of profiles/default, which takes jobs by priority.
PRIORITY = {
    "collect_mfa": 60, "stocks": 55, "stocks_range": 55, "collect_sensitivity": 50, "validate": 50,
    "collect_shocks": 45, "shocks_year": 40,
    "mfa_year": 35, "sensitivity_year": 30, "clean_trade": 20,
    "fig_shock_network": 10, "fig_shocks": 10, "fig_quality": 10,
}
YEARS = list(range(config["years"]["start"], config["years"]["end"] + 1))
if not YEARS:
    raise ValueError(
        f"config years: start {config['years']['start']} is after end {config['years']['end']}; "
        "set years.start <= years.end"
    )
COMMODITIES = load_commodities(config["commodities"])


wildcard_constraints:
    year=r"\d{4}",
    kind=r"mcs|mcs_combined|ds140|myb|myb_hhi|table",


def script_code(script):
    """params code= of each scripted job: a digest of the reeflow modules that scripts/<script>
    imports, transitively, so that editing one of them reruns the jobs using it and nothing else."""
    scripts = Path(workflow.basedir) / "scripts"
    return code_digest(scripts / script, scripts)


def has_api_key():
    """Whether a Comtrade key is set; only this flag (never the key) enters params and logs."""
    return bool(os.environ.get("COMTRADE_API_KEY", "").strip())


# The trade source of this run and why (comtrade.source auto: Comtrade with a key, BACI without):
# {configured, source (api | preview | files | baci), key_present, reason}. Every rule below reads
# TRADE["source"], never config["comtrade"]["source"]; the reason goes to the log and the provenance.
TRADE = resolve_trade_source(config["comtrade"]["source"], has_api_key()).as_params()
print(f"reeflow: trade source {TRADE['reason']}", file=sys.stderr)


def commodity_map():
    """The part of the commodity table that cleaning needs (codes, stages, revisions).

    Passed as params rather than the file, so that editing a content coefficient reruns the MFA
    but not the cleaning."""
    return cleaning_records(COMMODITIES)


def comtrade_scope():
    """What to ask Comtrade for, or what to keep from local files; a change reruns acquisition."""
    ct = config["comtrade"]
    local = TRADE["source"] not in ("api", "preview")
    keyed = TRADE["source"] == "api"  # local files do not depend on the key: no rerun when it is set
    reporters = ct["reporters"] if keyed or local else ct["keyless_reporters"]
    return {
        "source": "api" if TRADE["source"] == "preview" else TRADE["source"],
        "base_url": ct["base_url"],
        "keyed": keyed,
        "reporters": reporters,
        "flows": ct["flows"],
        "cmd_codes": cmd_codes_to_request(COMMODITIES),
        "max_records": ct["max_records_keyed"] if keyed else ct["max_records_keyless"],
        "max_tries": ct["max_tries"],
        "backoff_seconds": ct["backoff_seconds"],
        "max_backoff_seconds": ct["max_backoff_seconds"],
        "timeout_seconds": ct["timeout_seconds"],
        "pause_seconds": ct["pause_seconds"],
        "max_answer_mb": ct["max_answer_mb"],
        "allow_missing_years": ct["allow_missing_years"],
    }


def comtrade_local_files():
    """Local Comtrade exports (source: files), globs expanded and sorted for a stable order."""
    ct = config["comtrade"]
    if TRADE["source"] != "files":
        return []
    found = sorted({f for pattern in ct["files"] for f in glob.glob(pattern, recursive=True)})
    found = [f for f in found if f.lower().endswith((".json", ".csv")) and os.path.isfile(f)]
    if not found:
        raise ValueError(
            f"config comtrade.files: no .json or .csv file matches {ct['files']}; "
            "give globs of Comtrade v1 exports, or set comtrade.source: api"
        )
    return found


def comtrade_input_files(wildcards):
    return comtrade_local_files()


# --- Comtrade tariff lines (rule download_tariffline) -------------------------------------------
# National 8-10 digit lines beside HS6, one raw file per year; supplementary (a year no local file
# covers is written empty with a warning).

TARIFFLINE = config["comtrade"]["tariffline"]


def tariffline_source():
    """api | files | none: comtrade.tariffline.source, else following comtrade.source; none if disabled."""
    if not TARIFFLINE["enabled"]:
        return "none"
    source = TARIFFLINE.get("source")  # no schema default on purpose: unset follows comtrade.source
    if source:
        return source
    return {"api": "api", "preview": "api", "files": "files", "baci": "none"}[TRADE["source"]]


def tariffline_enabled():
    return tariffline_source() != "none"


def tariffline_file_entries():
    """comtrade.tariffline.files with globs expanded: one {path, pattern, reporter, flow, partner_codes} per file."""
    if tariffline_source() != "files":
        return []
    entries = []
    for item in TARIFFLINE["files"]:
        matches = sorted(f for f in glob.glob(item["path"], recursive=True) if os.path.isfile(f))
        if not matches:
            raise ValueError(
                f"config comtrade.tariffline.files: no file matches '{item['path']}'; fix the path or "
                "remove the entry (or set comtrade.tariffline.enabled: false)"
            )
        entries.extend({**item, "pattern": item["path"], "path": match} for match in matches)
    return entries


TARIFFLINE_FILES = tariffline_file_entries()


def tariffline_scope():
    """What to ask for (source api) or keep from local files (source files); a change reruns acquisition."""
    ct = config["comtrade"]
    source = tariffline_source()
    scope = {
        "source": source,
        "reporters": list(TARIFFLINE["reporters"]),
        "hs6": sorted(str(c) for c in TARIFFLINE["hs6"]),
        "flows": list(TARIFFLINE["flows"]),
    }
    if source == "api":
        keyed = keyed_requests(TRADE["source"], TRADE["key_present"])
        scope.update({
            "base_url": ct["base_url"],
            "keyed": keyed,
            "max_records": ct["max_records_keyed"] if keyed else ct["max_records_keyless"],
            "max_tries": ct["max_tries"],
            "backoff_seconds": ct["backoff_seconds"],
            "max_backoff_seconds": ct["max_backoff_seconds"],
            "timeout_seconds": ct["timeout_seconds"],
            "pause_seconds": ct["pause_seconds"],
            "max_answer_mb": ct["max_answer_mb"],
        })
    elif source == "files":
        scope["files"] = TARIFFLINE_FILES
    return scope


def tariffline_input_files(wildcards):
    return [entry["path"] for entry in TARIFFLINE_FILES]


def tariffline_raw_input(wildcards):
    """The raw tariff-line file of the year, or nothing when tariff lines are disabled."""
    if not tariffline_enabled():
        return []
    return [f"resources/raw/tariffline/{wildcards.year}.json"]


def tariffline_raw_paths():
    """Every raw tariff-line year file (for rule download), or none when disabled."""
    if not tariffline_enabled():
        return []
    return [f"resources/raw/tariffline/{year}.json" for year in YEARS]


def _safe_name(name):
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def usgs_entries():
    """Every USGS input as {kind, name, source, edition, is_url}, names unique within a kind."""
    us = config["usgs"]
    entries = []
    if us["source"] == "download":
        base = us["sciencebase_url"].rstrip("/")
        for item in us["urls"]:  # the schema's oneOf: a url, or a ScienceBase item and file
            source = item["url"] if "url" in item else f"{base}/catalog/item/{item['sciencebase_item']}"
            entry = {"kind": item["kind"], "name": _safe_name(item["name"]), "source": source,
                     "edition": item["edition"], "is_url": True}
            if "sciencebase_item" in item:  # link resolved at download time from the item's JSON
                entry["sciencebase"] = {"item": item["sciencebase_item"], "file": item["file"], "base_url": base}
            entries.append(entry)
    else:
        for item in us["files"]:
            matches = sorted(glob.glob(item["path"], recursive=True))
            matches = [m for m in matches if os.path.isfile(m)]
            if not matches:
                raise ValueError(
                    f"config usgs.files: no file matches '{item['path']}' (kind {item['kind']}); "
                    "fix the path or remove the entry"
                )
            for path in matches:
                entries.append(
                    {"kind": item["kind"], "name": _safe_name(os.path.basename(path)), "source": path,
                     "edition": item["edition"], "is_url": False}
                )
    seen = {}
    for entry in entries:
        key = (entry["kind"], entry["name"])
        sb_file = entry["sciencebase"]["file"] if "sciencebase" in entry else None
        origin = f"{entry['source']}#{sb_file}" if sb_file else entry["source"]
        if key in seen and seen[key] != origin:
            digest = hashlib.sha256(origin.encode()).hexdigest()[:8]
            entry["name"] = f"{digest}-{entry['name']}"
        seen[(entry["kind"], entry["name"])] = origin
    return entries


USGS_ENTRIES = usgs_entries()


def usgs_entry(wildcards):
    for entry in USGS_ENTRIES:
        if entry["kind"] == wildcards.kind and entry["name"] == wildcards.name:
            return entry
    raise ValueError(f"no USGS input {wildcards.kind}/{wildcards.name} in the config")


def usgs_local_input(wildcards):
    entry = usgs_entry(wildcards)
    return [] if entry["is_url"] else [entry["source"]]


def usgs_raw_paths():
    return [f"resources/raw/usgs/{e['kind']}/{e['name']}" for e in USGS_ENTRIES]


def usgs_provenance_paths():
    return [f"resources/raw/usgs/provenance/{e['kind']}/{e['name']}.json" for e in USGS_ENTRIES]


def raw_trade_path(year):
    """The raw year file that clean_trade reads: a Comtrade year, or a BACI extract."""
    if TRADE["source"] == "baci":
        return f"resources/raw/baci/{year}.parquet"
    return f"resources/raw/comtrade/{year}.json"


def trade_raw_input(wildcards):
    return raw_trade_path(wildcards.year)


def raw_trade_paths():
    """Every raw trade year file for the configured source."""
    return [raw_trade_path(year) for year in YEARS]


# --- BACI (workflow/rules/baci.smk) -------------------------------------------------------------
# The rules are always defined; they run only when a target asks for their outputs.


BACI = config["baci"]


def baci_comparison_wanted():
    """Whether to write the BACI-vs-Comtrade comparison; Comtrade must be the main source for that."""
    if not BACI["compare_with_comtrade"]:
        return False
    if TRADE["source"] == "baci":
        raise ValueError(
            f"config baci.compare_with_comtrade: true needs Comtrade as the trade source, but this run uses "
            f"{TRADE['reason']}; set COMTRADE_API_KEY (or comtrade.source: files with comtrade.files)"
        )
    return True


def baci_plan():
    """Study year -> the BACI release it is read from (None: a flagged gap), when BACI is used at all;
    a year no release covers stops here, before anything runs (unless baci.uncovered_years: gap)."""
    if TRADE["source"] != "baci" and not baci_comparison_wanted():
        return {}
    releases = releases_from_config(BACI["releases"], str(BACI["version"] or ""))
    return plan_releases(releases, YEARS, BACI["uncovered_years"])


BACI_PLAN = baci_plan()
BACI_RELEASES = {r.hs: r for r in BACI_PLAN.values() if r is not None}  # the releases this run reads


def baci_release(hs):
    if hs not in BACI_RELEASES:
        raise ValueError(f"no BACI release {hs} is used by this run (baci.releases and years)")
    return BACI_RELEASES[hs]


def baci_year_release(wildcards):
    """The release of the extract's year, or None for a flagged gap."""
    return BACI_PLAN.get(int(wildcards.year))


def baci_year_archive(wildcards):
    release = baci_year_release(wildcards)
    return [] if release is None else release.archive_path()


def baci_year_provenance(wildcards):
    release = baci_year_release(wildcards)
    return [] if release is None else release.provenance_path()


def baci_year_params(wildcards):
    """What the extract of a year depends on: its release (vintage, version) or the gap and why."""
    release = baci_year_release(wildcards)
    if release is None:
        return {"gap": True, "reason": f"no release in baci.releases covers {wildcards.year}"}
    return {"gap": False, "hs": release.hs, "version": release.version}


def baci_register_archive(wildcards):
    return baci_release(wildcards.hs).archive_path()


def baci_register_record(wildcards):
    """The download's own record (url, sha256, time) when the archive was downloaded, else nothing."""
    return baci_release(wildcards.hs).download_record() or []


def baci_register_params(wildcards):
    """Vintage and version only: which years a release must hold is checked per extract, so a change
    of the study's years reruns no registration (a hash of several GB)."""
    release = baci_release(wildcards.hs)
    return {"hs": release.hs, "version": release.version}


def baci_download_release(wildcards):
    """The release a download job fetches: the one of this vintage and version the run reads."""
    release = baci_release(wildcards.hs)
    if release.version != wildcards.baci_version or release.archive:
        raise ValueError(f"BACI {wildcards.hs} V{wildcards.baci_version} is not a release this run downloads")
    return release


def baci_url(wildcards):
    return download_url(BACI["url"], wildcards.baci_version, wildcards.hs)


def baci_sha256(wildcards):
    return baci_download_release(wildcards).sha256


def baci_codes():
    """Codes the extract keeps: every commodity-table code (4-digit ones keep their children)."""
    return sorted(COMMODITIES["hs_code"].unique())


# --- Sensitivity (workflow/rules/sensitivity.smk) -----------------------------------------------


def sensitivity_space_params():
    """What defines the parameter space besides the commodity table (a change redraws and reruns)."""
    sens = config["sensitivity"]
    return {
        "yields": dict(config["mfa"]["yields"]),
        "trade": {
            "mirror_rule": config["trade"]["mirror_rule"],
            "impute_missing_weights": config["trade"]["impute_missing_weights"],
        },
        "sensitivity": {
            key: sens[key] for key in ("yield_range", "mirror_rules", "vary_imputation", "p_include_imputed")
        },
    }


def sensitivity_years():
    """The configured one-at-a-time/Sobol years that the run covers (others cannot be computed)."""
    return [year for year in config["sensitivity"]["years"] if year in YEARS]


SENSITIVITY_SPACE = sensitivity_space_params()
SENSITIVITY_YEARS = sensitivity_years()


# --- Updates (workflow/rules/update.smk) ---------------------------------------------------------

UPDATES = "results/updates"
REFRESH_DIR = f"{UPDATES}/refresh"


def update_baci():
    """What `snakemake update` checks of BACI: every release the run reads, with its download record
    ('' for a local archive); empty when BACI is not used."""
    return [
        {"hs": r.hs, "version": r.version, "local": bool(r.archive), "record": r.download_record() or ""}
        for r in sorted(BACI_RELEASES.values(), key=lambda r: r.first_year)
    ]


def refresh_inputs(wildcards):
    """The files of the last refresh, once `snakemake update` made one (a new one reruns update_summary)."""
    if not (Path(REFRESH_DIR) / "refresh.json").is_file():
        return []
    return [str(p) for p in sorted(Path(REFRESH_DIR).glob("*")) if p.is_file()]
