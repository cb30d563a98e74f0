-- kpi_report: each KPI of the current period beside the previous period, the
-- same period last year, its target and its industry benchmark, with the
-- changes and a status judged by the KPI's direction (queries/kpis.toml).
--
-- status:
--   no source      the lake has no source for an input of this KPI
--   no data        the value is NULL (a zero denominator: no clicks, no leads...)
--   neutral        the KPI has no good or bad direction
--   on target / better / worse
--                  against the target when one is set (within
--                  [reporting] on_target_tolerance of it counts as on target),
--   unchanged / better / worse
--                  otherwise against the previous period
--   no comparison  neither a target nor a previous value
-- Changes are relative: (value - previous) / |previous|, NULL when previous is
-- 0 or NULL. Values are rounded to 9 decimal places: parallel summation adds
-- floats in a varying order, and a report should not change in its last digit
-- between two runs on the same data.
-- Placeholders: {{industry}}, {{tolerance}}, {{current_end}}.

CREATE VIEW kpi_report AS
WITH pivot AS (
    SELECT grain, channel, campaign_type, campaign, kpi,
           max(CASE WHEN period = 'current' THEN value END) AS value,
           max(CASE WHEN period = 'previous' THEN value END) AS previous,
           max(CASE WHEN period = 'last_year' THEN value END) AS last_year,
           bool_or(period = 'current' AND no_source) AS no_source
    FROM kpi_values
    GROUP BY grain, channel, campaign_type, campaign, kpi
), bench_ranked AS (
    -- The configured industry's figure where there is one, else 'All'.
    SELECT b.*,
           row_number() OVER (
               PARTITION BY b.kpi, coalesce(b.channel, '')
               ORDER BY CASE WHEN b.industry = '{{industry}}' THEN 0 ELSE 1 END, b.year DESC
           ) AS rn
    FROM benchmarks b
    WHERE b.industry IN ('{{industry}}', 'All')
), bench AS (
    SELECT r.kpi, r.channel,
           CASE WHEN r.currency IS NULL THEN r.value
                ELSE to_reporting(r.value, fx.factor, r.currency, DATE '{{current_end}}',
                                  'reference/benchmarks.csv', '{{currency}}') END AS benchmark
    FROM bench_ranked r
    LEFT JOIN fx_factor fx
           ON fx.currency = r.currency
          AND DATE '{{current_end}}' >= fx.valid_from AND DATE '{{current_end}}' < fx.valid_until
    WHERE r.rn = 1
)
SELECT p.grain, p.channel, p.campaign_type, p.campaign, p.kpi,
       round(p.value, 9) AS value, round(p.previous, 9) AS previous,
       round(p.last_year, 9) AS last_year,
       coalesce(tc.target, tt.target) AS target,
       coalesce(bc.benchmark, ba.benchmark) AS benchmark,
       round((p.value - p.previous) / nullif(abs(p.previous), 0), 9) AS change_vs_previous,
       round((p.value - p.last_year) / nullif(abs(p.last_year), 0), 9) AS change_vs_last_year,
       CASE
           WHEN p.no_source THEN 'no source'
           WHEN p.value IS NULL THEN 'no data'
           WHEN k.direction = 'neutral' THEN 'neutral'
           WHEN coalesce(tc.target, tt.target) IS NOT NULL THEN
               CASE WHEN abs(p.value - coalesce(tc.target, tt.target))
                         <= {{tolerance}} * abs(coalesce(tc.target, tt.target)) THEN 'on target'
                    WHEN (p.value > coalesce(tc.target, tt.target)) = (k.direction = 'higher') THEN 'better'
                    ELSE 'worse' END
           WHEN p.previous IS NULL THEN 'no comparison'
           WHEN abs(p.value - p.previous) <= {{tolerance}} * abs(p.previous) THEN 'unchanged'
           WHEN (p.value > p.previous) = (k.direction = 'higher') THEN 'better'
           ELSE 'worse'
       END AS status,
       k.position AS kpi_position,
       CASE p.grain WHEN 'total' THEN 0 WHEN 'channel' THEN 1 WHEN 'campaign_type' THEN 2 ELSE 3 END
           AS grain_position
FROM pivot p
JOIN kpi_catalog k ON k.kpi = p.kpi
LEFT JOIN kpi_targets tt ON tt.kpi = p.kpi AND p.grain = 'total' AND tt.grain = 'total'
LEFT JOIN kpi_targets tc ON tc.kpi = p.kpi AND p.grain = 'channel' AND tc.grain = 'channel'
                        AND tc.channel = p.channel
LEFT JOIN bench ba ON ba.kpi = p.kpi AND ba.channel IS NULL
LEFT JOIN bench bc ON bc.kpi = p.kpi AND bc.channel = p.channel;
