"""A clean-room second simulator of homes, and the evaluation that scores them through the integration.

Written for issue 12 without reading the lab's own generator (`homeiq_lab.synthetic`),
its dataset or training code, or the model's features: only the recorder-DB writer
(`demo.recorder_db`), `real_check` and the real recorder databases were looked at.
It is one team member's picture of real homes, not the issue's independent set.

Modules: `catalog` (device kinds), `home` (a home's devices, fates and home-wide
events), `battery` (discharge, brown-out, owners' swaps), `simulate` and `rows`
(outages, what HA shows of them, report times and values, truth), `write`
(recorder database + registry + truth files), `registry` (the reader's registry as
the integration's discovery would make it), `baselines`, `evaluate`, `report`.

Assumptions (all drawn per home or per device from a fixed seed, default 20261204;
10 homes of about 30-40 devices, 60 days recorded, simulated 7 days further so
that the last days have a known outcome):
- Devices: Zigbee contact, motion, climate, leak sensors and remotes (coin cells or
  AAA alkalines), Z-Wave locks (AA, 10 % steps) and multisensors (lithium), BLE
  thermometers (CR2032, noisy 1 % readings every 10 min); mains Zigbee plugs and
  bulbs (mesh routers), Wi-Fi plugs, ESPHome nodes, Z-Wave switches, TVs and
  printers. Zigbee is ZHA or zigbee2mqtt per home; zigbee2mqtt's availability
  option is on in 60 % of homes.
- Batteries: a used fraction rising linearly (life 120-900 days by kind, age at
  the start uniform); voltage flat then a knee (coin, lithium) or a steady slope
  (alkaline); the firmware's % is linear in voltage, in 1, 5 or 10 % steps, with
  noise of 0-3 % (at least 2 % for BLE); 8 % of devices never update their
  reported level. Coin-cell radios brown out while still reporting 15-40 %.
  60 % of owners change a battery 0-10 days after it reads below their own 5-30 %
  threshold; 4 % of devices get an early change at any level; 70 % of dead
  batteries are changed 1-10 days after dying. A change at <= 15 % counts as a
  battery failure (issue 12's decision on the gate).
- Availability as HA shows it: an outage becomes 'unavailable' only when it
  outlasts the integration's detection delay (ZHA 2 h mains / 6 h battery,
  zigbee2mqtt 10 min / 25 h, Z-Wave 2 min mains / never for sleeping battery
  nodes, Wi-Fi 30-60 s, BLE 15 min), and ends at the device's next report.
- Healthy devices: rare outages (one of about 40 min every 60 days, three-minute
  blips every 20 days), home-wide power cuts (every ~25 days, ~20 min, mains
  devices), Wi-Fi access point reboots (every ~8 days, 2-6 min), HA restarts
  (every ~5 days). Mesh: 60 % of Zigbee battery devices talk through a mains
  router and lose the link for 10-90 min when it goes out, then re-route.
  40 % of TVs go unavailable every night when switched off, 60 % of printers
  are off about 70 % of days.
- Flaky-but-healthy devices (30 % of mains, 15 % of battery devices): 0.5-6
  dropouts a day of 1.5-8 min (Wi-Fi) or 3-20 min (Zigbee), a weak link; never fail.
- Offline failures (10 % of mains, 3 % of battery devices): from day 8 to the end,
  a precursor of 2-12 days (a quarter have none) in which outages get longer
  (2-6 min growing to 1-6 h), more frequent (0.5 growing to 3.5-10.5 a day) or
  both, and the link weakens; then unavailable for good. Where HA never marks the
  device unavailable, the failure is labelled stale (how: "offline_unmarked").
- Stale failures (12 % of devices whose integration never marks them
  unavailable, and ESPHome nodes): reports thin out over 2-12 days (a quarter
  without warning) and stop, with no 'unavailable' state.
- Each device's first failure is its truth (type, time, how, warning start);
  its later rows are not evaluated. States are kept for the whole history (a
  recorder whose purge_keep_days covers it); no long-term statistics are written.
"""
