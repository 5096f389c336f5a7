"""Charts for the report and the CLI: small static matplotlib figures, legible on paper and for
colour-blind readers.

Figures are built with ``matplotlib.figure.Figure`` directly (no pyplot, no GUI backend, no global
state), so rendering a report never opens a window and never leaks figures. ``to_svg`` turns a
figure into an inline ``<svg>`` element with an accessible name (``<title>`` and ``aria-label``)
whose ids cannot clash with another chart's on the page.

Conventions every chart follows:
- colours from the Okabe–Ito palette (safe under every common colour-vision deficiency), and every
  scenario also told apart by its line style, so nothing rests on hue alone;
- counts of people, crimes and kilograms on log axes: a band that spans two orders of magnitude
  stays readable and is never cut off;
- graded bands (50%, 80%, 95%) of one hue, darkest in the middle (the Bank of England's fan);
- observed figures are filled black dots; modelled values (the synthesis' median for past years)
  a grey line with open circles: a model's number is never drawn as if it had been observed.
"""

from __future__ import annotations

import io
import itertools
import math
import re
import textwrap
from collections.abc import Mapping

import matplotlib as mpl
import numpy as np
import pandas as pd
from markupsafe import escape
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullLocator

from forecast.core.formatting import number

#: fewer observed years than this get no fan chart: there is no trend to draw from them (the models'
#: own minimum). The report gives their scenario arithmetic in a table instead.
MIN_OBS_FOR_FAN = 3


def has_fan_chart(rows: pd.DataFrame) -> bool:
    """Whether one series' forecasts.csv rows get a fan chart: at least ``MIN_OBS_FOR_FAN`` observed
    years (forecasts of true numbers from the synthesis, with no ``n_obs``, always do)."""
    if "n_obs" not in rows or rows.empty:
        return True
    n = rows["n_obs"].iloc[0]
    return bool(pd.isna(n) or n >= MIN_OBS_FOR_FAN)


mpl.use("Agg")

#: Text width of an A4 page with 15 mm margins, in inches: every chart fits it without scaling.
PAGE_WIDTH_IN = 6.7

STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 7.5,
    "axes.titlesize": 7.8,
    "axes.labelsize": 7.5,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e3e3e3",
    "grid.linewidth": 0.5,
    "lines.linewidth": 1.3,
    "lines.markersize": 3.2,
    "figure.dpi": 72,
    "ytick.left": False,  # gridlines mark the values: no tick marks (fewer elements to draw)
    "path.simplify": True,
}

#: Okabe & Ito (2008), "Color Universal Design": distinguishable under protan, deutan and tritan vision.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}
#: Scenario colours and line styles: the three required scenarios fixed, user scenarios in turn.
SCENARIO_COLOURS = {
    "baseline": OKABE_ITO["blue"],
    "optimistic": OKABE_ITO["bluish_green"],
    "pessimistic": OKABE_ITO["vermillion"],
}
EXTRA_COLOURS = (OKABE_ITO["reddish_purple"], OKABE_ITO["orange"], OKABE_ITO["sky_blue"], OKABE_ITO["black"])
SCENARIO_DASHES = {"baseline": "-", "optimistic": (0, (5, 2)), "pessimistic": (0, (1.2, 1.2))}
EXTRA_DASHES = ((0, (6, 2, 1.5, 2)), (0, (3, 1, 1, 1, 1, 1)), "-.", (0, (8, 3)))
#: Graded bands: (level, opacity), widest first.
BANDS = ((95, 0.16), (80, 0.28), (50, 0.45))
OBSERVED_COLOUR = OKABE_ITO["black"]
MODELLED_COLOUR = "#777777"
SYNTHESIS_COLOUR = OKABE_ITO["blue"]
SIZE_COLOUR = OKABE_ITO["orange"]
SINGLE_COLOUR = OKABE_ITO["vermillion"]
LEFT_OUT_COLOUR = "#777777"

#: Country panels side by side in a small-multiples chart.
PANELS_PER_ROW = 3
#: Standard normal quantiles of the 50% and 80% central intervals: the 50% band is derived from the
#: 80% band on the log scale when a table gives no 50% band of its own (stated under every chart).
Z50, Z80 = 0.6744897501960817, 1.2815515655446004
#: Years of history a fan chart shows before its first forecast year (the forecast stays legible).
FAN_HISTORY_YEARS = 15
#: Marks history.csv rows that are the synthesis' median (modelled), not an observed figure.
MODELLED_SOURCE = "synthesis median"


def scenario_colours(names) -> dict[str, str]:
    extra = itertools.cycle(EXTRA_COLOURS)
    return {n: SCENARIO_COLOURS.get(n) or next(extra) for n in names}


def scenario_dashes(names) -> dict[str, object]:
    extra = itertools.cycle(EXTRA_DASHES)
    return {n: SCENARIO_DASHES.get(n) or next(extra) for n in names}


def band_50(median, lo_80, hi_80) -> tuple[np.ndarray, np.ndarray]:
    """The 50% band from the median and the 80% band, assuming a log-normal shape between them
    (each side scaled on the log scale by z(75%) / z(90%)); linear where a value is not positive."""
    m, lo, hi = (np.asarray(v, float) for v in (median, lo_80, hi_80))
    k = Z50 / Z80
    with np.errstate(divide="ignore", invalid="ignore"):
        positive = (m > 0) & (lo > 0) & (hi > 0)
        lo50 = np.where(positive, m * (lo / np.where(m > 0, m, 1)) ** k, m - k * (m - lo))
        hi50 = np.where(positive, m * (hi / np.where(m > 0, m, 1)) ** k, m + k * (hi - m))
    return lo50, hi50


def bands_of(rows: pd.DataFrame) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """The 95%, 80% and 50% bands of forecast or estimate rows (lo_50/hi_50 if the table has them)."""
    out = {
        95: (rows["lo_95"].to_numpy(float), rows["hi_95"].to_numpy(float)),
        80: (rows["lo_80"].to_numpy(float), rows["hi_80"].to_numpy(float)),
    }
    if "lo_50" in rows and "hi_50" in rows:
        out[50] = (rows["lo_50"].to_numpy(float), rows["hi_50"].to_numpy(float))
    else:
        out[50] = band_50(rows["median"], rows["lo_80"], rows["hi_80"])
    return out


def has_own_50(rows: pd.DataFrame) -> bool:
    return "lo_50" in rows and "hi_50" in rows


def _year_axis(ax) -> None:
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{int(round(v))}"))


def _margins(
    fig: Figure,
    left: float = 0.62,
    right: float = 0.12,
    top: float = 0.3,
    bottom: float = 0.35,
    wspace: float = 0.08,
    hspace: float | None = None,
) -> None:
    """Fixed margins in inches: as legible as a layout engine, at a fraction of its cost per chart."""
    w, h = fig.get_size_inches()
    fig.subplots_adjust(left=left / w, right=1 - right / w, top=1 - top / h, bottom=bottom / h, wspace=wspace)
    if hspace is not None:
        fig.subplots_adjust(hspace=hspace)


def compact(v: float) -> str:
    """An axis label: 300, 3k, 30k, 1.5M (a tick needs no more)."""
    if not np.isfinite(v):
        return ""
    for size, suffix in ((1e9, "bn"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= size:
            return f"{number(v / size, 2)}{suffix}"
    return number(v, 2)


def _log_axis(axis) -> None:
    """Log scale with a few labelled ticks and no minor ones (each tick is an SVG element).

    Call after plotting: a range under two decades gets 1-2-5 ticks, a wider one decades only
    (every second decade beyond six).
    """
    lo, hi = sorted(axis.get_view_interval())
    decades = math.log10(hi / lo) if lo > 0 else 99
    subs = (1.0, 2.0, 5.0) if decades < 1.3 else (1.0, 3.0) if decades < 2.5 else (1.0,)
    axis.set_major_locator(LogLocator(base=10, subs=subs, numticks=7))
    axis.set_minor_locator(NullLocator())
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: compact(v)))


def _positive_limits(ax, values) -> None:
    """Log-axis limits that hold every positive value (with a little air): nothing is cut off."""
    v = np.asarray([x for x in values if np.isfinite(x) and x > 0], float)
    if v.size:
        lo, hi = v.min(), v.max()
        if hi <= lo:
            lo, hi = lo / 2, hi * 2
        ax.set_ylim(lo / 1.3, hi * 1.3)


def _scenario_order(forecasts: pd.DataFrame, scenarios: Mapping) -> list[str]:
    present = list(dict.fromkeys(forecasts["scenario"]))
    return [n for n in scenarios if n in present] + [n for n in present if n not in scenarios]


def fan_scenario(forecasts: pd.DataFrame, scenarios: Mapping) -> str:
    """The scenario drawn as a fan: the one the source calls most likely, else the first (baseline)."""
    names = _scenario_order(forecasts, scenarios)
    if "most_likely" in forecasts:
        marked = forecasts.loc[forecasts["most_likely"].astype(str).str.lower() == "true", "scenario"]
        if len(marked):
            return str(marked.iloc[0])
    for n in names:
        if getattr(scenarios.get(n), "most_likely", False):
            return n
    return names[0] if names else "baseline"


def _history_split(history: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(observed, modelled) rows of history.csv: modelled rows are the synthesis' median."""
    if "source" not in history or history.empty:
        return history, history.iloc[0:0]
    modelled = history["source"].astype(str).str.startswith(MODELLED_SOURCE)
    return history[~modelled], history[modelled]


def _fan_panel(ax, history: pd.DataFrame, forecasts: pd.DataFrame, names: list[str], fan: str) -> list[float]:
    """One panel: the fan scenario's graded bands and median, the other scenarios' medians (each its
    colour and line style), the observed figures and the modelled past. Returns the values drawn."""
    colours, dashes = scenario_colours(names), scenario_dashes(names)
    hist = history.sort_values("year")
    if len(forecasts):
        hist = hist[hist["year"] >= forecasts["year"].min() - FAN_HISTORY_YEARS]
    observed, modelled = _history_split(hist)
    drawn: list[float] = []
    start = None
    if len(hist):
        start = (float(hist["year"].iloc[-1]), float(hist["value"].iloc[-1]))
    rows = forecasts[forecasts.scenario == fan].sort_values("year")
    if len(rows):
        years = rows["year"].to_numpy(float)
        link = start is not None and start[0] < years[0]
        x = np.r_[start[0], years] if link else years
        for level, alpha in BANDS:
            lo, hi = bands_of(rows)[level]
            if link:
                lo, hi = np.r_[start[1], lo], np.r_[start[1], hi]
            ax.fill_between(x, lo, hi, color=colours[fan], alpha=alpha, lw=0, zorder=1)
            drawn += [*lo, *hi]
    for name in names:
        r = forecasts[forecasts.scenario == name].sort_values("year")
        if r.empty:
            continue
        x, y = r["year"].to_numpy(float), r["median"].to_numpy(float)
        if start is not None and start[0] < x[0]:
            x, y = np.r_[start[0], x], np.r_[start[1], y]
        ax.plot(x, y, color=colours[name], ls=dashes[name], lw=1.5 if name == fan else 1.1, zorder=3)
        drawn += list(y)
    if len(modelled):
        ax.plot(modelled["year"], modelled["value"], color=MODELLED_COLOUR, lw=0.9, marker="o", ms=2.2,
                mfc="white", mew=0.7, zorder=4)  # fmt: skip
        drawn += list(modelled["value"])
    if len(observed):
        ax.plot(observed["year"], observed["value"], color=OBSERVED_COLOUR, lw=0.7, marker="o", ms=2.8, zorder=5)
        drawn += list(observed["value"])
    return drawn


def _legend_handles(names: list[str], fan: str, labels: Mapping[str, str], modelled: bool, observed: bool):
    colours, dashes = scenario_colours(names), scenario_dashes(names)
    handles = [Patch(color=colours[fan], alpha=a, lw=0, label=f"{level}% band ({fan})") for level, a in reversed(BANDS)]
    handles += [
        Line2D([], [], color=colours[n], ls=dashes[n], lw=1.4, label=f"{labels.get(n, n)}: median") for n in names
    ]
    if observed:
        handles.append(Line2D([], [], color=OBSERVED_COLOUR, marker="o", ms=3, lw=0.7, label="observed figure"))
    if modelled:
        handles.append(
            Line2D([], [], color=MODELLED_COLOUR, marker="o", ms=3, mfc="white", lw=0.9, label="modelled past (median)")
        )
    return handles


def fan_chart(history: pd.DataFrame, forecasts: pd.DataFrame, scenarios: Mapping, title: str, unit: str) -> Figure:
    """One series' fan chart (one country, one indicator), log axis: the most likely scenario's graded
    50/80/95% bands, every scenario's median in its own colour and line style, the observed past.

    ``history``: year, value[, source]; ``forecasts``: forecasts.csv rows of the series.
    """
    return fan_grid({title: (history, forecasts)}, scenarios, unit, title=None)


def fan_grid(panels: Mapping[str, tuple[pd.DataFrame, pd.DataFrame]], scenarios: Mapping, unit: str,
             title: str | None = None) -> Figure:  # fmt: skip
    """Small multiples: one fan panel per country (``panels``: panel title -> (history, forecasts)),
    each on its own log axis, one legend for all."""
    all_fc = pd.concat([fc for _h, fc in panels.values()]) if panels else pd.DataFrame({"scenario": []})
    names = _scenario_order(all_fc, scenarios)
    fan = fan_scenario(all_fc, scenarios)
    labels = {n: n for n in names}
    n = max(len(panels), 1)
    ncols = min(max(n, 2), PANELS_PER_ROW)  # one panel: the legend beside it
    nrows = -(-n // ncols)
    with mpl.rc_context(STYLE):
        fig = Figure(figsize=(PAGE_WIDTH_IN if n > 1 else PAGE_WIDTH_IN * 0.8, 0.75 + 1.45 * nrows))
        axes = list(fig.subplots(nrows, ncols, squeeze=False).ravel())
        for spare in axes[n:]:
            spare.set_visible(False)
        _margins(fig, left=0.5, top=0.4 if title else 0.22, bottom=0.72 if n % ncols == 0 else 0.3, wspace=0.3,
                 hspace=0.5)  # fmt: skip
        any_modelled = any_observed = False
        for ax, (name, (hist, fc)) in zip(axes, panels.items(), strict=False):
            observed, modelled = _history_split(hist)
            any_modelled |= len(modelled) > 0
            any_observed |= len(observed) > 0
            drawn = _fan_panel(ax, hist, fc, names, fan)
            ax.set_yscale("log")
            _positive_limits(ax, drawn)
            _log_axis(ax.yaxis)
            _year_axis(ax)
            ax.grid(axis="x", visible=False)
            ax.set_title(name, loc="left", fontweight="bold")
        for row in range(nrows):
            axes[row * ncols].set_ylabel(f"{unit} (log scale)")
        handles = _legend_handles(names, fan, labels, any_modelled, any_observed)
        if n % ncols:  # the legend fills the first empty panel
            axes[n].legend(handles=handles, loc="center left", frameon=False, fontsize=6.5, handlelength=2.2)
            axes[n].set_visible(True)
            axes[n].set_axis_off()
        else:
            fig.legend(handles=handles, loc="lower center", ncols=4, frameon=False, fontsize=6.5,
                       bbox_to_anchor=(0.5, 0.0), handlelength=2.2)  # fmt: skip
        if title:
            fig.suptitle(title, x=0.01, y=0.995, ha="left", va="top", fontsize=8.5, fontweight="bold")
    return fig


def prevalence_grid(estimates: pd.DataFrame, observed: pd.DataFrame, target_label: str) -> Figure:
    """Small multiples for one target: per country, the estimated true number (median, graded 50/80/95%
    bands, log axis) against the register figures (observed, black dots) and the independent size
    estimates (orange diamonds with their ranges) the synthesis used.

    ``estimates``: synthesis rows of one target (country, year, median, lo_80, hi_80, lo_95, hi_95).
    ``observed``: evidence_used rows of the same target (country, quantity 'register' | 'size', year,
    value, low, high).
    """
    countries = list(dict.fromkeys(estimates["country"]))
    n = max(len(countries), 1)
    ncols = min(n, PANELS_PER_ROW)
    nrows = -(-n // ncols)
    with mpl.rc_context(STYLE):
        fig = Figure(figsize=(PAGE_WIDTH_IN, 0.7 + 1.4 * nrows))
        axes = list(fig.subplots(nrows, ncols, squeeze=False, sharex=True).ravel())
        for spare in axes[n:]:
            spare.set_visible(False)
        _margins(fig, left=0.5, top=0.22, bottom=0.62 if n % ncols == 0 else 0.3, wspace=0.3, hspace=0.5)
        for ax, country in zip(axes, countries, strict=False):
            e = estimates[estimates.country == country].sort_values("year")
            o = observed[observed.country == country] if len(observed) else observed
            drawn = []
            for level, alpha in BANDS:
                lo, hi = bands_of(e)[level]
                ax.fill_between(e.year, lo, hi, color=SYNTHESIS_COLOUR, alpha=alpha, lw=0)
                drawn += [*lo, *hi]
            ax.plot(e.year, e["median"], color=SYNTHESIS_COLOUR, lw=1.2)
            reg = o[o.quantity == "register"] if len(o) else o
            if len(reg):
                ax.plot(reg.year, reg.value, "o", color=OBSERVED_COLOUR, ms=2.6, zorder=4)
                drawn += list(reg.value)
            size = o[o.quantity == "size"] if len(o) else o
            if len(size):
                mid = size.value.fillna(np.sqrt(size.low * size.high)).fillna(size.low).fillna(size.high)
                lo = (mid - size.low.fillna(mid)).clip(lower=0)
                hi = (size.high.fillna(mid) - mid).clip(lower=0)
                ax.errorbar(size.year, mid, yerr=[lo, hi], fmt="D", color=SIZE_COLOUR, ms=3, lw=1, capsize=1.5,
                            zorder=5, mec="black", mew=0.4)  # fmt: skip
                drawn += list(mid)
            ax.set_yscale("log")
            _positive_limits(ax, drawn)
            _log_axis(ax.yaxis)
            _year_axis(ax)
            ax.grid(axis="x", visible=False)
            ax.set_title(country, loc="left", fontweight="bold")
        for row in range(nrows):
            axes[row * ncols].set_ylabel("people (log scale)")
        handles = [Patch(color=SYNTHESIS_COLOUR, alpha=a, lw=0, label=f"{level}% band") for level, a in reversed(BANDS)]
        handles += [
            Line2D([], [], color=SYNTHESIS_COLOUR, lw=1.2, label=f"{target_label}: estimated true number (median)"),
            Line2D([], [], color=OBSERVED_COLOUR, marker="o", ms=3, lw=0, label="on the register (observed)"),
            Line2D([], [], color=SIZE_COLOUR, marker="D", ms=3, lw=0, mec="black", mew=0.4,
                   label="independent size estimate (observed)"),
        ]  # fmt: skip
        if n % ncols:  # the legend fills the first empty panel
            axes[n].legend(handles=handles, loc="center left", frameon=False, fontsize=6.5)
            axes[n].set_visible(True)
            axes[n].set_axis_off()
        else:
            fig.legend(handles=handles, loc="lower center", ncols=3, frameon=False, fontsize=6.5,
                       bbox_to_anchor=(0.5, 0))  # fmt: skip
    return fig


def range_chart(rows: pd.DataFrame) -> Figure:
    """EMCDDA-style range chart: each source's estimate of a true number (a point or a range) against
    the synthesis for the same country, target and year; evidence left out of the synthesis is drawn
    hollow and says why in its label.

    ``rows``: label, target_label, kind ('multiplier' | 'size' | 'left out'), value, lo, hi,
    synthesis_median, synthesis_lo_95, synthesis_hi_95 (one row per estimate, in drawing order).
    """
    groups = list(dict.fromkeys(rows["target_label"]))
    counts = [int((rows.target_label == t).sum()) for t in groups]
    style = {
        "multiplier": {"fmt": "o", "color": SINGLE_COLOUR, "mfc": SINGLE_COLOUR},
        "size": {"fmt": "D", "color": SIZE_COLOUR, "mfc": SIZE_COLOUR},
        "left out": {"fmt": "s", "color": LEFT_OUT_COLOUR, "mfc": "white"},
    }
    with mpl.rc_context(STYLE):
        fig = Figure(figsize=(PAGE_WIDTH_IN, 0.85 + 0.2 * sum(counts) + 0.3 * len(groups)))
        axes = fig.subplots(len(groups), 1, squeeze=False, gridspec_kw={"height_ratios": counts or [1]})[:, 0]
        _margins(fig, left=3.1, right=0.15, top=0.2, bottom=0.72, hspace=0.35)
        for ax, group in zip(axes, groups, strict=True):
            r = rows[rows.target_label == group].reset_index(drop=True)
            y = np.arange(len(r))[::-1]
            drawn = []
            for yi, (_, row) in zip(y, r.iterrows(), strict=True):
                if np.isfinite(row.synthesis_lo_95):
                    ax.plot([row.synthesis_lo_95, row.synthesis_hi_95], [yi, yi], color=SYNTHESIS_COLOUR, alpha=0.3,
                            lw=6, solid_capstyle="butt", zorder=1)  # fmt: skip
                    ax.plot([row.synthesis_median], [yi], "|", color=SYNTHESIS_COLOUR, ms=8, mew=1.6, zorder=2)
                    drawn += [row.synthesis_lo_95, row.synthesis_hi_95]
                s = style.get(row.kind, style["multiplier"])
                mid = row.value if np.isfinite(row.value) else np.sqrt(row.lo * row.hi)
                lo = mid - row.lo if np.isfinite(row.lo) else 0.0
                hi = row.hi - mid if np.isfinite(row.hi) else 0.0
                ax.errorbar([mid], [yi], xerr=[[max(lo, 0)], [max(hi, 0)]], fmt=s["fmt"], color=s["color"],
                            mfc=s["mfc"], ms=3.6, lw=1, capsize=2, zorder=3)  # fmt: skip
                drawn += [mid, row.lo, row.hi]
            ax.set_yticks(y, [textwrap.shorten(str(s), 62, placeholder="…") for s in r.label], fontsize=6.5)
            ax.set_ylim(-0.7, len(r) - 0.3)
            ax.set_xscale("log")
            v = [d for d in drawn if np.isfinite(d) and d > 0]
            if v:
                ax.set_xlim(min(v) / 1.5, max(v) * 1.5)
            _log_axis(ax.xaxis)
            ax.grid(axis="y", visible=False)
            ax.set_title(group, loc="left", fontweight="bold")
        axes[-1].set_xlabel("estimated true number of people (log scale)")
        handles = [
            Line2D([], [], color=SINGLE_COLOUR, marker="o", lw=1, label="register × one multiplier (95% range)"),
            Line2D([], [], color=SIZE_COLOUR, marker="D", lw=1, label="independent size estimate (its range)"),
            Line2D([], [], color=LEFT_OUT_COLOUR, marker="s", mfc="white", lw=1, label="left out of the synthesis"),
            Line2D([], [], color=SYNTHESIS_COLOUR, alpha=0.45, lw=6, label="synthesis (95% band, median |)"),
        ]
        fig.legend(handles=handles, loc="lower center", ncols=2, frameon=False, fontsize=6.5, bbox_to_anchor=(0.5, 0))
    return fig


def calibration_chart(history: pd.DataFrame) -> Figure:
    """Scenario weights over calibration vintages (columns vintage, scenario, weight)."""
    history = history[history["scenario"].notna()]
    names = list(dict.fromkeys(history["scenario"]))
    colours, dashes = scenario_colours(names), scenario_dashes(names)
    vintages = list(dict.fromkeys(history["vintage"].astype(str)))
    with mpl.rc_context(STYLE):
        fig = Figure(figsize=(PAGE_WIDTH_IN, 1.7))
        ax = fig.subplots()
        _margins(fig, left=0.55, top=0.15, bottom=0.45)
        x = {v: i for i, v in enumerate(vintages)}
        for name in names:
            h = history[history.scenario == name]
            ax.plot([x[str(v)] for v in h.vintage], h.weight, marker="o", ms=2.5, color=colours[name],
                    ls=dashes[name], label=name)  # fmt: skip
        step = max(1, len(vintages) // 12)
        ax.set_xticks(range(0, len(vintages), step), vintages[::step])
        ax.set_ylim(0, 1)
        ax.set_xlabel("calibration (vintage)")
        ax.set_ylabel("scenario weight")
        ax.legend(frameon=False, loc="upper left", ncols=len(names))
    return fig


def track_record_chart(track: pd.DataFrame) -> Figure:
    """Each scored figure against the forecast made a year or more before it (baseline scenario):
    the outcome as a multiple of the forecast median, with the forecast's 80% band as a bar, by the
    year the figure describes. A calibrated forecast has about 8 in 10 dots inside their bars."""
    t = track[track.scenario == "baseline"].sort_values(["year", "indicator", "country"])
    inside = (t.value >= t.lo_80) & (t.value <= t.hi_80)
    with mpl.rc_context(STYLE):
        fig = Figure(figsize=(PAGE_WIDTH_IN, 2.2))
        ax = fig.subplots()
        _margins(fig, left=0.62, top=0.2, bottom=0.4)
        offsets = t.groupby("year").cumcount().to_numpy() - t.groupby("year").year.transform("size").to_numpy() / 2
        x = t.year.to_numpy(float) + 0.1 * offsets
        med = t["median"].to_numpy(float)
        ax.vlines(x, t.lo_80 / med, t.hi_80 / med, color="#aaaaaa", lw=1.4, label="forecast's 80% band")
        ax.scatter(x[inside], (t.value / med)[inside], s=10, color=OKABE_ITO["blue"], zorder=3,
                   label="outcome inside the band")  # fmt: skip
        ax.scatter(x[~inside], (t.value / med)[~inside], s=14, marker="x", color=OKABE_ITO["vermillion"], zorder=3,
                   label="outcome outside the band")  # fmt: skip
        ax.axhline(1, color="#444444", lw=0.6)
        ax.set_yscale("log")
        _log_axis(ax.yaxis)
        ax.set_ylabel("outcome ÷ forecast median")
        _year_axis(ax)
        ax.legend(frameon=False, loc="upper left", ncols=3)
    return fig


def coverage_chart(summary: pd.DataFrame) -> Figure:
    """Out-of-sample coverage of the 80% and 95% bands by horizon, one line per model and series set.

    ``summary``: backtest_summary.csv rows (model, horizon, coverage_80, coverage_95, series_set); pass
    only the models a reader needs (e.g. the one the forecasts use and a benchmark): more lines tangle.
    """
    palette = [OKABE_ITO[k] for k in ("blue", "vermillion", "bluish_green", "reddish_purple", "orange", "sky_blue")]
    with mpl.rc_context(STYLE):
        fig = Figure(figsize=(PAGE_WIDTH_IN, 2.1))
        axes = fig.subplots(1, 2, sharey=True)
        _margins(fig, left=0.55, right=1.9, top=0.25, bottom=0.42, wspace=0.12)
        groups = list(summary.groupby(["series_set", "model"], sort=False))
        styles = {s: ls for s, ls in zip(dict.fromkeys(summary.series_set), ["-", "--", ":", "-."], strict=False)}
        colours = dict(zip(dict.fromkeys(summary.model), itertools.cycle(palette), strict=False))
        for ax, level in zip(axes, (80, 95), strict=True):
            ax.axhline(level / 100, color="#000000", lw=0.8, ls=":")
            for (series_set, model), g in groups:
                g = g.sort_values("horizon")
                ax.plot(g.horizon, g[f"coverage_{level}"], marker="o", ms=2.5, lw=1, ls=styles[series_set],
                        color=colours[model], label=f"{model} ({series_set})")  # fmt: skip
            ax.set_title(f"{level}% band (target: dotted line)", loc="left")
            ax.set_xlabel("years ahead")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:.0%}"))
        axes[0].set_ylim(0, 1.02)
        axes[0].set_ylabel("share of outcomes inside")
        fig.legend(*axes[0].get_legend_handles_labels(), loc="center right", frameon=False, fontsize=6)
    return fig


_ID = re.compile(r'\s\bid="([^"]+)"')
_REF = re.compile(r"(?:url\(|href=\")#([^)\"]+)")
_LONG_DECIMAL = re.compile(r"(\d\.\d{2})\d+")
_GEOMETRY = re.compile(r'(\s(?:d|x|y|transform)=")([^"]*)')
_counter = itertools.count(1)


_GROUP = re.compile(r"<g\b[^>]*>|</g>")


def _flatten_groups(svg: str) -> str:
    """Drop the ``<g>`` wrappers that carry nothing (matplotlib wraps every artist in one, and most of
    their ids are gone): a third fewer elements for a browser or WeasyPrint to walk, same picture."""
    out, stack, last = [], [], 0
    for m in _GROUP.finditer(svg):
        out.append(svg[last : m.start()])
        tag = m.group(0)
        if tag == "</g>":
            if stack.pop():
                out.append(tag)
        else:
            keep = tag.strip() not in ("<g>", "<g >")
            stack.append(keep)
            if keep:
                out.append(tag)
        last = m.end()
    out.append(svg[last:])
    return "".join(out)


def to_svg(fig: Figure, title: str = "", prefix: str | None = None) -> str:
    """The figure as an inline ``<svg>`` element: text as text, ids unique on the page, small, and
    named for screen readers (``role="img"``, ``aria-label`` and a ``<title>`` child: ``title``).

    Ids are prefixed (``c1-``, ``c2-`` ...) so that many charts can share one HTML page; ids nothing
    refers to are dropped, coordinates are rounded to 0.01 pt and line breaks inside paths removed,
    which roughly halves the size.
    """
    buf = io.StringIO()
    with mpl.rc_context({"svg.fonttype": "none", "svg.hashsalt": "forecast"}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.S)
    prefix = prefix or f"c{next(_counter)}-"
    used = set(_REF.findall(svg))
    svg = _ID.sub(lambda m: f' id="{prefix}{m.group(1)}"' if m.group(1) in used else "", svg)
    svg = _REF.sub(lambda m: m.group(0).replace(f"#{m.group(1)}", f"#{prefix}{m.group(1)}"), svg)
    svg = _GEOMETRY.sub(lambda m: m.group(1) + _LONG_DECIMAL.sub(r"\1", m.group(2)), svg)  # never touch text
    svg = re.sub(r" ?\n(?=[LMCQz])", " ", svg)
    svg = re.sub(r"\n\s+", "\n", svg)
    svg = _flatten_groups(svg)
    name = str(escape(" ".join(str(title).split()) or "chart"))
    head_end = svg.index(">") + 1
    head = svg[:head_end].replace("<svg ", f'<svg role="img" aria-label="{name}" ', 1)
    return f"{head}<title>{name}</title>{svg[head_end:]}"
