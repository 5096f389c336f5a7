"""Charts for the report and the CLI: small static matplotlib figures, legible on paper.

Figures are built with ``matplotlib.figure.Figure`` directly (no pyplot, no GUI backend, no global
state), so rendering a report never opens a window and never leaks figures. ``to_svg`` turns a
figure into an inline ``<svg>`` element whose ids cannot clash with another chart's on the page.
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
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullLocator

from forecast.core.formatting import number

mpl.use("Agg")

#: Text width of an A4 page with 2 cm margins, in inches: every chart fits it without scaling.
PAGE_WIDTH_IN = 6.7

STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 7.5,
    "axes.titlesize": 8,
    "axes.labelsize": 7.5,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.5,
    "lines.linewidth": 1.4,
    "lines.markersize": 3.5,
    "figure.dpi": 72,
    "path.simplify": True,
}

#: Scenario colours: the three required scenarios fixed, user scenarios from the rest in turn.
SCENARIO_COLOURS = {"baseline": "#1f5fa8", "optimistic": "#2e8540", "pessimistic": "#c0392b"}
EXTRA_COLOURS = ("#7d3c98", "#b9770e", "#138d75", "#5d6d7e")
BAND_ALPHA = {95: 0.18, 80: 0.38}
HISTORY_COLOUR = "#222222"
SYNTHESIS_COLOUR = "#34495e"

#: Scenario panels side by side before a fan chart wraps to a new row (user scenarios add panels).
PANELS_PER_ROW = 3

#: A band is drawn up to this multiple of the largest median/observation; beyond it the axis is
#: cut and the full upper end is written on the chart (never hidden).
Y_CUT = 4.0


def _count_axis(ax) -> None:
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: number(v, 2) if v else "0"))


def _year_axis(ax) -> None:
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{int(round(v))}"))


def _margins(
    fig: Figure, left: float = 0.62, right: float = 0.12, top: float = 0.3, bottom: float = 0.35, wspace: float = 0.08
) -> None:
    """Fixed margins in inches: as legible as a layout engine, at a fraction of its cost per chart."""
    w, h = fig.get_size_inches()
    fig.subplots_adjust(left=left / w, right=1 - right / w, top=1 - top / h, bottom=bottom / h, wspace=wspace)


def _log_axis(axis) -> None:
    """Log scale with a few labelled ticks and no minor ones (each tick is an SVG element).

    Call after plotting: a range under two decades gets 1-2-5 ticks, a wider one decades only.
    """
    lo, hi = sorted(axis.get_view_interval())
    narrow = lo > 0 and math.log10(hi / lo) < 2
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if narrow else (1.0,), numticks=6))
    axis.set_minor_locator(NullLocator())
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: number(v, 2)))


def scenario_colours(names) -> dict[str, str]:
    extra = itertools.cycle(EXTRA_COLOURS)
    return {n: SCENARIO_COLOURS.get(n) or next(extra) for n in names}


def _scenario_order(forecasts: pd.DataFrame, scenarios: Mapping) -> list[str]:
    present = list(dict.fromkeys(forecasts["scenario"]))
    return [n for n in scenarios if n in present] + [n for n in present if n not in scenarios]


def _assumption_text(rows: pd.DataFrame, scenario, indicator: str | None) -> str:
    """What the scenario assumes for this series: from forecasts.csv, else from the scenario file."""
    if "assumption" in rows and rows["assumption"].notna().any():
        text = str(rows["assumption"].dropna().iloc[0])
    elif scenario is not None and indicator:
        text = scenario.for_indicator(indicator).text
    else:
        return ""
    return text


def fan_chart(history: pd.DataFrame, forecasts: pd.DataFrame, scenarios: Mapping, title: str, unit: str) -> Figure:
    """Fan chart, one panel per scenario on a shared axis (Bank of England style).

    ``history``: columns year, value (the observed series). ``forecasts``: forecasts.csv rows of one
    country and indicator (scenario, year, median, lo_80, hi_80, lo_95, hi_95[, assumption]).
    ``scenarios``: name -> Scenario (label, years); scenarios not in it are drawn under their name.
    Each panel shows the observed line with markers, the graded 95%/80% bands fanning out from the
    last observation, the median, the other scenarios' medians in grey, and the assumption in words.
    """
    names = _scenario_order(forecasts, scenarios)
    colours = scenario_colours(names)
    hist = history.sort_values("year")
    indicator = forecasts["indicator"].iloc[0] if "indicator" in forecasts and len(forecasts) else None
    with mpl.rc_context(STYLE):
        ncols = min(max(len(names), 1), PANELS_PER_ROW)
        nrows = -(-max(len(names), 1) // ncols)
        fig = Figure(figsize=(PAGE_WIDTH_IN, 0.3 + 2.3 * nrows))
        grid = fig.subplots(nrows, ncols, sharey=True, squeeze=False)
        axes = list(grid.ravel())
        for spare in axes[len(names) :]:
            spare.set_visible(False)
        _margins(fig, top=0.66, bottom=0.28)
        fig.subplots_adjust(hspace=0.75 / 2.3 if nrows > 1 else 0.2)
        peak = max(hist["value"].max() if len(hist) else 0, forecasts["median"].max() if len(forecasts) else 0)
        top95 = forecasts["hi_95"].max() if len(forecasts) else peak
        y_top = min(top95, Y_CUT * peak) * 1.06 if peak > 0 else 1.0
        medians = {n: forecasts[forecasts.scenario == n].sort_values("year") for n in names}
        for ax, name in zip(axes, names, strict=False):
            rows = medians[name]
            c = colours[name]
            years = rows["year"].to_numpy(float)
            start = None
            if len(hist):
                start = (float(hist["year"].iloc[-1]), float(hist["value"].iloc[-1]))
                if years.size and start[0] < years[0]:
                    years = np.r_[start[0], years]
                else:
                    start = None

            def col(name_, rows=rows, start=start):
                v = rows[name_].to_numpy(float)
                return np.r_[start[1], v] if start else v

            ax.fill_between(years, col("lo_95"), col("hi_95"), color=c, alpha=BAND_ALPHA[95], lw=0, label="95% band")
            ax.fill_between(years, col("lo_80"), col("hi_80"), color=c, alpha=BAND_ALPHA[80], lw=0, label="80% band")
            for other in names:
                if other != name and len(medians[other]):
                    o = medians[other]
                    ax.plot(o["year"], o["median"], color="#999999", lw=0.8, ls="--", zorder=2)
            ax.plot(years, col("median"), color=c, lw=1.6, label="median", zorder=3)
            if len(hist):
                ax.plot(
                    hist["year"], hist["value"], color=HISTORY_COLOUR, marker="o", lw=1.1, label="observed", zorder=4
                )
            scen = scenarios.get(name)
            label = getattr(scen, "label", None) or name
            assumption = _assumption_text(rows, scen, indicator)
            head = f"{name}: {label}" if label != name else name
            ax.set_title(
                "\n".join([textwrap.shorten(head, 38, placeholder="…"), *textwrap.wrap(assumption, 44)[:2]]),
                loc="left",
                fontsize=6.8,
                color=c,
            )
            ax.grid(axis="x", visible=False)
            _year_axis(ax)
            if len(rows) and rows["hi_95"].max() > y_top:
                ax.annotate(
                    f"95% band reaches {number(rows['hi_95'].max())}",
                    xy=(0.98, 0.98),
                    xycoords="axes fraction",
                    ha="right",
                    va="top",
                    fontsize=6,
                    color=c,
                    bbox={"boxstyle": "square,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85},
                )
        axes[0].set_ylim(0, y_top)
        for row in grid:
            row[0].set_ylabel(unit)
        _count_axis(axes[0])
        axes[0].legend(loc="upper left", frameon=False, fontsize=6, handlelength=1.2)
        fig.suptitle(title, x=0.01, y=0.99, ha="left", va="top", fontsize=8.5, fontweight="bold")
    return fig


def prevalence_chart(
    estimates: pd.DataFrame, observed: pd.DataFrame, country: str, targets: Mapping[str, str] | None = None
) -> Figure:
    """Registered vs estimated true number over time for one country, one panel per target.

    ``estimates``: synthesis rows (target, year, median, lo_80, hi_80, lo_95, hi_95).
    ``observed``: what the synthesis saw (target, quantity 'register' | 'size', year, value, low, high).
    Log scale: the true number and the register differ by a factor of 3-50.
    """
    targets = targets or {"users": "people who use drugs", "plhiv": "people living with HIV"}
    with mpl.rc_context(STYLE):
        fig = Figure(figsize=(PAGE_WIDTH_IN, 2.35))
        axes = fig.subplots(1, len(targets), squeeze=False)[0]
        _margins(fig, left=0.75, top=0.22, bottom=0.62, wspace=0.3)
        for ax, (target, label) in zip(axes, targets.items(), strict=True):
            e = estimates[estimates.target == target].sort_values("year")
            o = observed[observed.target == target] if len(observed) else observed
            if e.empty:
                ax.text(0.5, 0.5, "no estimate", ha="center", va="center", transform=ax.transAxes)
                ax.set_title(f"{country}: {label}", loc="left")
                continue
            ax.fill_between(e.year, e.lo_95, e.hi_95, color=SYNTHESIS_COLOUR, alpha=0.15, lw=0, label="95% band")
            ax.fill_between(e.year, e.lo_80, e.hi_80, color=SYNTHESIS_COLOUR, alpha=0.30, lw=0, label="80% band")
            ax.plot(e.year, e["median"], color=SYNTHESIS_COLOUR, label="estimated true number (median)")
            reg = o[o.quantity == "register"] if len(o) else o
            if len(reg):
                ax.plot(reg.year, reg.value, "o", color="#000000", label="registered", zorder=4)
            size = o[o.quantity == "size"] if len(o) else o
            if len(size):
                mid = size.value.fillna(np.sqrt(size.low * size.high)).fillna(size.low).fillna(size.high)
                lo = (mid - size.low.fillna(mid)).clip(lower=0)
                hi = (size.high.fillna(mid) - mid).clip(lower=0)
                ax.errorbar(
                    size.year,
                    mid,
                    yerr=[lo, hi],
                    fmt="D",
                    color="#d35400",
                    ms=3,
                    lw=1,
                    capsize=2,
                    label="independent size estimate",
                    zorder=5,
                )
            ax.set_yscale("log")
            _log_axis(ax.yaxis)
            _year_axis(ax)
            ax.grid(axis="x", visible=False)
            ax.set_title(f"{country}: {label}", loc="left")
            ax.set_ylabel("people (log scale)")
        handles, labels = {}, {}
        for ax in axes:
            for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
                handles.setdefault(lab, h)
                labels[lab] = lab
        fig.legend(
            list(handles.values()),
            list(labels),
            loc="lower center",
            ncols=5,
            frameon=False,
            fontsize=6.5,
            bbox_to_anchor=(0.5, 0.0),
        )
    return fig


def multiplier_sensitivity_chart(rows: pd.DataFrame) -> Figure:
    """Each single multiplier's estimate (median, 95% band) against the synthesis for the same place and year.

    ``rows``: label, target, single_median, single_lo_95, single_hi_95, synthesis_median,
    synthesis_lo_95, synthesis_hi_95 (one row per multiplier). One panel per target, log scale.
    """
    targets = list(dict.fromkeys(rows["target"]))
    counts = [int((rows.target == t).sum()) for t in targets]
    with mpl.rc_context(STYLE):
        fig = Figure(figsize=(PAGE_WIDTH_IN, 0.9 + 0.24 * sum(counts) + 0.35 * len(targets)), layout="constrained")
        axes = fig.subplots(len(targets), 1, squeeze=False, gridspec_kw={"height_ratios": counts or [1]})[:, 0]
        for ax, target in zip(axes, targets, strict=True):
            r = rows[rows.target == target].reset_index(drop=True)
            y = np.arange(len(r))[::-1]
            for yi, (_, row) in zip(y, r.iterrows(), strict=True):
                if np.isfinite(row.synthesis_lo_95):
                    ax.plot(
                        [row.synthesis_lo_95, row.synthesis_hi_95],
                        [yi, yi],
                        color=SYNTHESIS_COLOUR,
                        alpha=0.25,
                        lw=7,
                        solid_capstyle="butt",
                        zorder=1,
                    )
                    ax.plot([row.synthesis_median], [yi], "|", color=SYNTHESIS_COLOUR, ms=9, mew=1.5, zorder=2)
            ax.errorbar(
                r.single_median,
                y,
                xerr=[r.single_median - r.single_lo_95, r.single_hi_95 - r.single_median],
                fmt="o",
                color="#c0392b",
                ms=3.5,
                lw=1,
                capsize=2,
                zorder=3,
            )
            ax.set_yticks(y, [textwrap.shorten(s, 60, placeholder="…") for s in r.label])
            ax.set_ylim(-0.7, len(r) - 0.3)
            ax.set_xscale("log")
            _log_axis(ax.xaxis)
            ax.grid(axis="y", visible=False)
            ax.set_title(
                {"users": "People who use drugs", "plhiv": "People living with HIV"}.get(target, target), loc="left"
            )
        axes[-1].set_xlabel(
            "estimated true number (log scale): red = register × one multiplier (95% band); "
            "grey = synthesis (95% band, median tick)"
        )
    return fig


def calibration_chart(history: pd.DataFrame) -> Figure:
    """Scenario weights over calibration vintages (columns vintage, scenario, weight)."""
    names = list(dict.fromkeys(history["scenario"]))
    colours = scenario_colours(names)
    vintages = list(dict.fromkeys(history["vintage"].astype(str)))
    with mpl.rc_context(STYLE):
        fig = Figure(figsize=(PAGE_WIDTH_IN * 0.6, 2.0))
        ax = fig.subplots()
        _margins(fig, left=0.55, top=0.15, bottom=0.45)
        x = {v: i for i, v in enumerate(vintages)}
        for name in names:
            h = history[history.scenario == name]
            ax.plot([x[str(v)] for v in h.vintage], h.weight, marker="o", color=colours[name], label=name)
        ax.set_xticks(range(len(vintages)), vintages)
        ax.set_ylim(0, 1)
        ax.set_xlabel("calibration vintage")
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
        fig = Figure(figsize=(PAGE_WIDTH_IN, 2.6))
        ax = fig.subplots()
        _margins(fig, left=0.62, top=0.2, bottom=0.45)
        offsets = t.groupby("year").cumcount().to_numpy() - t.groupby("year").year.transform("size").to_numpy() / 2
        x = t.year.to_numpy(float) + 0.12 * offsets
        med = t["median"].to_numpy(float)
        ax.vlines(x, t.lo_80 / med, t.hi_80 / med, color="#999999", lw=1.6, label="forecast 80% band")
        ax.scatter(x[inside], (t.value / med)[inside], s=12, color="#0072B2", zorder=3, label="outcome inside")
        ax.scatter(x[~inside], (t.value / med)[~inside], s=14, marker="x", color="#D55E00", zorder=3,
                   label="outcome outside")  # fmt: skip
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
    with mpl.rc_context(STYLE):
        fig = Figure(figsize=(PAGE_WIDTH_IN, 2.5))
        axes = fig.subplots(1, 2, sharey=True)
        _margins(fig, left=0.55, right=1.75, top=0.25, bottom=0.42, wspace=0.12)
        groups = list(summary.groupby(["series_set", "model"], sort=False))
        styles = {s: ls for s, ls in zip(dict.fromkeys(summary.series_set), ["-", "--", ":", "-."], strict=False)}
        colours = dict(
            zip(
                dict.fromkeys(summary.model),
                itertools.cycle(
                    ["#1f5fa8", "#c0392b", "#2e8540", "#7d3c98", "#b9770e", "#138d75", "#5d6d7e", "#000000"]
                ),
                strict=False,
            )
        )
        for ax, level in zip(axes, (80, 95), strict=True):
            ax.axhline(level / 100, color="#000000", lw=0.8, ls=":")
            for (series_set, model), g in groups:
                g = g.sort_values("horizon")
                ax.plot(
                    g.horizon,
                    g[f"coverage_{level}"],
                    marker="o",
                    ms=2.5,
                    lw=1,
                    ls=styles[series_set],
                    color=colours[model],
                    label=f"{model} ({series_set})",
                )
            ax.set_title(f"{level}% band (dotted: {level}%)", loc="left")
            ax.set_xlabel("horizon (years ahead)")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:.0%}"))
        axes[0].set_ylim(0, 1.02)
        axes[0].set_ylabel("coverage")
        fig.legend(*axes[0].get_legend_handles_labels(), loc="center right", frameon=False, fontsize=6)
    return fig


_ID = re.compile(r'\s\bid="([^"]+)"')
_REF = re.compile(r"(?:url\(|href=\")#([^)\"]+)")
_LONG_DECIMAL = re.compile(r"(\d\.\d{2})\d+")
_GEOMETRY = re.compile(r'(\s(?:d|x|y|transform)=")([^"]*)')
_counter = itertools.count(1)


def to_svg(fig: Figure, prefix: str | None = None) -> str:
    """The figure as an inline ``<svg>`` element: text as text, ids unique on the page, small.

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
    return svg.replace("<svg ", '<svg role="img" ', 1)
