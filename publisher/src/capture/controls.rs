//! Camera controls (brightness, exposure, flips...): their names as v4l2-ctl prints them, the
//! `--control NAME=VALUE` requests, checking a value against what the driver describes, and the
//! `--list-controls` listing. The ioctls that read and set controls are in `v4l2.rs`.

use std::fmt::Write as _;

/// A control's type: the kernel's `V4L2_CTRL_TYPE_*` numbers (a stable ABI).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlType {
    Integer,
    Boolean,
    Menu,
    Button,
    Integer64,
    CtrlClass,
    String,
    Bitmask,
    IntegerMenu,
    /// A compound type (arrays of u8/u16/u32, area, codec parameters...) or one newer than us.
    Other(u32),
}

impl ControlType {
    pub fn from_raw(raw: u32) -> Self {
        match raw {
            1 => Self::Integer,
            2 => Self::Boolean,
            3 => Self::Menu,
            4 => Self::Button,
            5 => Self::Integer64,
            6 => Self::CtrlClass,
            7 => Self::String,
            8 => Self::Bitmask,
            9 => Self::IntegerMenu,
            other => Self::Other(other),
        }
    }

    /// The word v4l2-ctl prints for the type.
    pub fn word(self) -> String {
        match self {
            Self::Integer => "int",
            Self::Boolean => "bool",
            Self::Menu => "menu",
            Self::Button => "button",
            Self::Integer64 => "int64",
            Self::CtrlClass => "ctrl-class",
            Self::String => "str",
            Self::Bitmask => "bitmask",
            Self::IntegerMenu => "intmenu",
            Self::Other(0x0100) => "u8",
            Self::Other(0x0101) => "u16",
            Self::Other(0x0102) => "u32",
            Self::Other(0x0106) => "area",
            Self::Other(raw) => return format!("type {raw:#x}"),
        }
        .to_owned()
    }

    /// A single number that VIDIOC_G/S_EXT_CTRLS carry in `value` (`value64` for Integer64).
    pub fn is_scalar(self) -> bool {
        matches!(
            self,
            Self::Integer
                | Self::Boolean
                | Self::Menu
                | Self::Integer64
                | Self::Bitmask
                | Self::IntegerMenu
        )
    }
}

/// `V4L2_CTRL_FLAG_*` (a stable ABI) and the words v4l2-ctl prints for them.
pub mod flag {
    pub const DISABLED: u32 = 0x0001;
    pub const READ_ONLY: u32 = 0x0004;
    pub const INACTIVE: u32 = 0x0010;
    pub const WRITE_ONLY: u32 = 0x0040;
    pub const VOLATILE: u32 = 0x0080;

    pub(super) const WORDS: [(u32, &str); 12] = [
        (DISABLED, "disabled"),
        (0x0002, "grabbed"),
        (READ_ONLY, "read-only"),
        (0x0008, "update"),
        (INACTIVE, "inactive"),
        (0x0020, "slider"),
        (WRITE_ONLY, "write-only"),
        (VOLATILE, "volatile"),
        (0x0100, "has-payload"),
        (0x0200, "execute-on-write"),
        (0x0400, "modify-layout"),
        (0x0800, "dynamic-array"),
    ];
}

/// What the driver says about one control (VIDIOC_QUERY_EXT_CTRL, VIDIOC_QUERYMENU).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlInfo {
    pub id: u32,
    pub kind: ControlType,
    /// The driver's name ("Horizontal Flip"); [`control_name`] gives the one campub matches.
    pub name: String,
    pub minimum: i64,
    pub maximum: i64,
    pub step: u64,
    pub default: i64,
    /// `V4L2_CTRL_FLAG_*` bits ([`flag`]).
    pub flags: u32,
    /// Array dimensions; empty for a single value.
    pub dims: Vec<u32>,
    /// Menu entries (index, label): a menu's names, an integer menu's numbers.
    pub menu: Vec<(u32, String)>,
}

impl ControlInfo {
    fn has(&self, bit: u32) -> bool {
        self.flags & bit != 0
    }

    /// A single value campub can read back (for the listing and after setting it).
    pub fn is_readable(&self) -> bool {
        self.kind.is_scalar() && self.dims.is_empty() && !self.has(flag::WRITE_ONLY)
    }
}

/// A control's name as v4l2-ctl prints it: lowercase, each run of other characters than ASCII
/// letters and digits one `_`, none at the ends ("Limited RGB Range (16-235)" ->
/// `limited_rgb_range_16_235`). User input goes through it too, so matching ignores case.
pub fn control_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut gap = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            if gap && !out.is_empty() {
                out.push('_');
            }
            gap = false;
            out.push(c.to_ascii_lowercase());
        } else {
            gap = true;
        }
    }
    out
}

/// One `--control NAME=VALUE`, checked for its form only: whether the camera has that control
/// and takes that value is known once the camera is open ([`resolve`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlRequest {
    /// As [`control_name`] spells it.
    pub name: String,
    pub value: String,
}

impl std::fmt::Display for ControlRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.name, self.value)
    }
}

impl std::str::FromStr for ControlRequest {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| {
            format!("{s:?}: {why}; expected NAME=VALUE, e.g. brightness=200 (campub --list-controls shows the names)")
        };
        let (name, value) = s.split_once('=').ok_or_else(|| bad("no '='"))?;
        let name = control_name(name);
        let value = value.trim();
        if name.is_empty() {
            return Err(bad("no control name"));
        }
        if value.is_empty() {
            return Err(bad("no value"));
        }
        Ok(Self {
            name,
            value: value.to_owned(),
        })
    }
}

/// A request matched to one of the camera's controls, its value checked: what to set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlSetting {
    pub id: u32,
    pub kind: ControlType,
    /// As [`control_name`] spells it.
    pub name: String,
    pub value: i64,
    /// The driver changes it by itself (V4L2_CTRL_FLAG_VOLATILE): reading it back may differ.
    pub volatile: bool,
}

/// Matches `request` to one of `controls` and checks its value; the error says what the control
/// takes (range and step, the menu's entries, the control names there are).
pub fn resolve(
    request: &ControlRequest,
    controls: &[ControlInfo],
) -> Result<ControlSetting, String> {
    let Some(info) = controls
        .iter()
        .filter(|c| c.kind != ControlType::CtrlClass)
        .find(|c| control_name(&c.name) == request.name)
    else {
        let names: Vec<String> = controls
            .iter()
            .filter(|c| c.kind != ControlType::CtrlClass)
            .map(|c| control_name(&c.name))
            .collect();
        return Err(if names.is_empty() {
            format!("no control {:?}: the camera has no controls", request.name)
        } else {
            format!(
                "no control {:?}; the camera has: {}",
                request.name,
                names.join(", ")
            )
        });
    };
    let name = control_name(&info.name);
    if info.has(flag::DISABLED) {
        return Err(format!("{name} is disabled by the driver"));
    }
    if info.has(flag::READ_ONLY) {
        return Err(format!("{name} is read-only"));
    }
    if !info.kind.is_scalar() || !info.dims.is_empty() {
        let what = if info.dims.is_empty() {
            format!("a {} control", info.kind.word())
        } else {
            format!("an array of {}", info.kind.word())
        };
        return Err(format!("{name} is {what}, not settable from --control"));
    }
    let value = parse_value(info, &name, &request.value)?;
    Ok(ControlSetting {
        id: info.id,
        kind: info.kind,
        name,
        value,
        volatile: info.has(flag::VOLATILE),
    })
}

/// `text` as a value of the scalar control `info`, checked against its range, step or entries.
fn parse_value(info: &ControlInfo, name: &str, text: &str) -> Result<i64, String> {
    match info.kind {
        ControlType::Boolean => match text.to_ascii_lowercase().as_str() {
            "1" | "true" | "on" | "yes" => Ok(1),
            "0" | "false" | "off" | "no" => Ok(0),
            _ => Err(format!(
                "{text:?} is not a boolean: {name} takes 0 or 1 (true/false, on/off, yes/no)"
            )),
        },
        ControlType::Menu | ControlType::IntegerMenu => {
            // A name matches whatever its case, spaces and punctuation: "50hz" is "50 Hz".
            let squeeze = |t: &str| control_name(t).replace('_', "");
            let wanted = squeeze(text);
            let by_index = parse_int(text);
            let entry = info.menu.iter().find(|(index, label)| {
                by_index == Some(i64::from(*index))
                    || (info.kind == ControlType::Menu && squeeze(label) == wanted)
            });
            match entry {
                Some((index, _)) => Ok(i64::from(*index)),
                None => Err(format!(
                    "{text:?} is not an entry of {name}: {}{}",
                    menu_entries(info),
                    if info.kind == ControlType::IntegerMenu {
                        " (give the index)"
                    } else {
                        " (give the index or the name)"
                    }
                )),
            }
        }
        ControlType::Bitmask => {
            let value = parse_int(text).ok_or_else(|| {
                format!(
                    "{text:?} is not a number: {name} is a bitmask within {:#010x}",
                    info.maximum
                )
            })?;
            if value < 0 || value & !info.maximum != 0 {
                return Err(format!(
                    "{text} has bits outside {name}'s mask {:#010x}",
                    info.maximum
                ));
            }
            Ok(value)
        }
        _ => {
            let range = || {
                format!(
                    "{name} takes {} to {} in steps of {} (default {})",
                    info.minimum,
                    info.maximum,
                    info.step.max(1),
                    info.default
                )
            };
            let value = parse_int(text)
                .ok_or_else(|| format!("{text:?} is not a whole number: {}", range()))?;
            if value < info.minimum || value > info.maximum {
                return Err(format!("{value} is out of range: {}", range()));
            }
            let offset = i128::from(value) - i128::from(info.minimum);
            if offset % i128::from(info.step.max(1)) != 0 {
                return Err(format!("{value} is not on a step: {}", range()));
            }
            Ok(value)
        }
    }
}

/// A whole number, decimal or 0x hexadecimal, with an optional sign; None when it is not one or
/// does not fit in 64 bits.
fn parse_int(text: &str) -> Option<i64> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let magnitude = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(hex) => u64::from_str_radix(hex, 16).ok()?,
        None => digits.parse::<u64>().ok()?,
    };
    let magnitude = i128::from(magnitude);
    i64::try_from(if negative { -magnitude } else { magnitude }).ok()
}

fn menu_entries(info: &ControlInfo) -> String {
    info.menu
        .iter()
        .map(|(index, label)| format!("{index} ({label})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One control (and its menu's entries) for `--list-controls`, laid out as
/// `v4l2-ctl --list-ctrls-menus` does; `value` is its current value when it could be read. A
/// control class is a heading.
pub fn format_control(info: &ControlInfo, value: Option<i64>) -> String {
    if info.kind == ControlType::CtrlClass {
        return format!("\n{}\n\n", info.name);
    }
    let mut line = format!(
        "{:>31} {:#010x} {:<9}:",
        control_name(&info.name),
        info.id,
        format!("({})", info.kind.word())
    );
    let range = format!(
        " min={} max={} step={}",
        info.minimum, info.maximum, info.step
    );
    let label = |v: i64| {
        info.menu
            .iter()
            .find(|(index, _)| i64::from(*index) == v)
            .map(|(_, label)| format!(" ({label})"))
            .unwrap_or_default()
    };
    match info.kind {
        ControlType::Integer | ControlType::Integer64 => {
            let _ = write!(line, "{range} default={}", info.default);
        }
        ControlType::Boolean => {
            let _ = write!(line, " default={}", info.default);
        }
        ControlType::Menu | ControlType::IntegerMenu => {
            let _ = write!(
                line,
                " min={} max={} default={}",
                info.minimum, info.maximum, info.default
            );
        }
        ControlType::Bitmask => {
            let _ = write!(
                line,
                " max={:#010x} default={:#010x}",
                info.maximum, info.default
            );
        }
        ControlType::String => line.push_str(&range),
        ControlType::Other(_) if !info.dims.is_empty() => {
            let _ = write!(line, "{range} default={}", info.default);
        }
        ControlType::Button | ControlType::CtrlClass | ControlType::Other(_) => {}
    }
    if !info.dims.is_empty() {
        line.push_str(" dims=");
        for d in &info.dims {
            let _ = write!(line, "[{d}]");
        }
    } else if let Some(v) = value {
        match info.kind {
            ControlType::Bitmask => {
                let _ = write!(line, " value={v:#010x}");
            }
            _ => {
                let _ = write!(line, " value={v}{}", label(v));
            }
        }
    }
    let mut words: Vec<String> = flag::WORDS
        .iter()
        .filter(|(bit, _)| info.has(*bit))
        .map(|(_, word)| (*word).to_owned())
        .collect();
    let known = flag::WORDS.iter().fold(0, |all, (bit, _)| all | bit);
    // NEXT_CTRL and NEXT_COMPOUND are request bits, never reported.
    let unknown = info.flags & !known & !0xC000_0000;
    if unknown != 0 {
        words.push(format!("{unknown:#010x}"));
    }
    if !words.is_empty() {
        let _ = write!(line, " flags={}", words.join(", "));
    }
    line.push('\n');
    for (index, label) in &info.menu {
        let _ = writeln!(line, "{:>36}: {label}", index);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn control(name: &str, kind: ControlType, min: i64, max: i64, step: u64) -> ControlInfo {
        ControlInfo {
            id: 0x0098_0900,
            kind,
            name: name.into(),
            minimum: min,
            maximum: max,
            step,
            default: min,
            flags: 0,
            dims: vec![],
            menu: vec![],
        }
    }

    fn request(text: &str) -> ControlRequest {
        text.parse().unwrap()
    }

    /// vivid's controls, a few of each kind, as its driver describes them.
    fn vivid() -> Vec<ControlInfo> {
        let mut brightness = control("Brightness", ControlType::Integer, 0, 255, 1);
        brightness.default = 128;
        brightness.flags = 0x0020;
        let mut menu = control("Menu", ControlType::Menu, 1, 4, 1);
        menu.id = 0x0098_f904;
        menu.default = 3;
        menu.menu = vec![
            (1, "Menu Item 1".into()),
            (3, "Menu Item 3".into()),
            (4, "Menu Item 4".into()),
        ];
        let mut int_menu = control("Integer Menu", ControlType::IntegerMenu, 1, 8, 1);
        int_menu.menu = vec![(2, "2".into()), (4, "5".into())];
        let mut read_only = control("Read-Only Integer 32 Bits", ControlType::Integer, 0, 255, 1);
        read_only.flags = flag::READ_ONLY;
        let mut array = control(
            "U32 1 Element Array",
            ControlType::Other(0x0102),
            16,
            131072,
            1,
        );
        array.dims = vec![1];
        let mut s32_array = control("S32 2 Element Array", ControlType::Integer, -10, 10, 1);
        s32_array.dims = vec![2];
        let mut disabled = control("Old Thing", ControlType::Integer, 0, 1, 1);
        disabled.flags = flag::DISABLED;
        let mut bitmask = control("Bitmask", ControlType::Bitmask, 0, 0x8040_2010, 0);
        bitmask.default = 0x8000_2000;
        vec![
            control("User Controls", ControlType::CtrlClass, 0, 0, 0),
            brightness,
            control("Contrast", ControlType::Integer, 0, 255, 1),
            control("Horizontal Flip", ControlType::Boolean, 0, 1, 1),
            control("Exposure, Absolute", ControlType::Integer, 3, 2047, 4),
            control(
                "Integer 64 Bits",
                ControlType::Integer64,
                i64::MIN,
                i64::MAX,
                1,
            ),
            control("Button", ControlType::Button, 0, 0, 0),
            control("String", ControlType::String, 2, 4, 1),
            menu,
            int_menu,
            read_only,
            array,
            s32_array,
            disabled,
            bitmask,
        ]
    }

    fn set(text: &str) -> Result<i64, String> {
        resolve(&request(text), &vivid()).map(|s| s.value)
    }

    #[test]
    fn names_are_spelled_as_v4l2_ctl_prints_them() {
        assert_eq!(control_name("Horizontal Flip"), "horizontal_flip");
        assert_eq!(
            control_name("Limited RGB Range (16-235)"),
            "limited_rgb_range_16_235"
        );
        assert_eq!(control_name("Exposure, Absolute"), "exposure_absolute");
        assert_eq!(control_name("  -White Balance--"), "white_balance");
        assert_eq!(control_name("HORIZONTAL-flip"), "horizontal_flip");
    }

    #[test]
    fn requests_parse_and_bad_forms_are_refused() {
        assert_eq!(
            request("Horizontal Flip = on"),
            ControlRequest {
                name: "horizontal_flip".into(),
                value: "on".into()
            }
        );
        assert_eq!(request("test_pattern=Menu Item 3").value, "Menu Item 3");
        for bad in ["brightness", "=3", "brightness=", " = "] {
            let err = bad.parse::<ControlRequest>().unwrap_err();
            assert!(err.contains("NAME=VALUE"), "{bad}: {err}");
        }
    }

    #[test]
    fn integers_are_checked_against_range_and_step() {
        assert_eq!(set("brightness=200"), Ok(200));
        assert_eq!(set("BRIGHTNESS=0x10"), Ok(16));
        assert_eq!(set("contrast=0"), Ok(0));
        let err = set("brightness=256").unwrap_err();
        assert!(err.contains("0 to 255 in steps of 1"), "{err}");
        assert!(err.contains("out of range"), "{err}");
        assert!(set("brightness=-1").is_err());
        assert!(set("brightness=bright").unwrap_err().contains("0 to 255"));
        assert_eq!(set("exposure_absolute=7"), Ok(7));
        let err = set("exposure_absolute=8").unwrap_err();
        assert!(err.contains("3 to 2047 in steps of 4"), "{err}");
        assert_eq!(set("integer_64_bits=-9223372036854775808"), Ok(i64::MIN));
        assert!(set("integer_64_bits=9223372036854775808").is_err());
    }

    #[test]
    fn booleans_take_the_usual_words() {
        for (word, value) in [
            ("1", 1),
            ("true", 1),
            ("On", 1),
            ("yes", 1),
            ("0", 0),
            ("false", 0),
            ("off", 0),
            ("NO", 0),
        ] {
            assert_eq!(set(&format!("horizontal_flip={word}")), Ok(value), "{word}");
        }
        let err = set("horizontal_flip=2").unwrap_err();
        assert!(err.contains("0 or 1"), "{err}");
    }

    #[test]
    fn menus_take_an_index_or_a_name_and_list_their_entries() {
        assert_eq!(set("menu=3"), Ok(3));
        assert_eq!(set("menu=menu item 4"), Ok(4));
        assert_eq!(set("menu=Menu_Item_1"), Ok(1));
        assert_eq!(set("menu=menuitem4"), Ok(4));
        let mut power = control("Power Line Frequency", ControlType::Menu, 0, 3, 1);
        power.menu = vec![
            (0, "Disabled".into()),
            (1, "50 Hz".into()),
            (2, "60 Hz".into()),
            (3, "Auto".into()),
        ];
        let setting = resolve(&request("power_line_frequency=50hz"), &[power]).unwrap();
        assert_eq!(setting.value, 1);
        let err = set("menu=2").unwrap_err();
        assert!(
            err.contains("1 (Menu Item 1), 3 (Menu Item 3), 4 (Menu Item 4)"),
            "{err}"
        );
        assert_eq!(set("integer_menu=4"), Ok(4));
        // An integer menu's entries are numbers: "5" is an entry's label, not an index.
        let err = set("integer_menu=5").unwrap_err();
        assert!(err.contains("2 (2), 4 (5)"), "{err}");
    }

    #[test]
    fn bitmasks_keep_within_their_mask() {
        assert_eq!(set("bitmask=0x80000010"), Ok(0x8000_0010));
        assert!(set("bitmask=0x1").unwrap_err().contains("0x80402010"));
    }

    #[test]
    fn unknown_unsettable_and_read_only_controls_are_clear_errors() {
        let err = set("brightnes=1").unwrap_err();
        assert!(err.contains("no control \"brightnes\""), "{err}");
        assert!(
            err.contains("brightness, contrast, horizontal_flip"),
            "{err}"
        );
        assert!(!err.contains("user_controls"), "{err}");
        for (text, needle) in [
            ("button=1", "a button control, not settable from --control"),
            ("string=ab", "a str control, not settable from --control"),
            ("u32_1_element_array=20", "an array of u32"),
            ("s32_2_element_array=1", "an array of int"),
            ("read_only_integer_32_bits=1", "read-only"),
            ("old_thing=1", "disabled"),
            ("user_controls=1", "no control"),
        ] {
            let err = set(text).unwrap_err();
            assert!(err.contains(needle), "{text}: {err}");
        }
        assert!(resolve(&request("brightness=1"), &[])
            .unwrap_err()
            .contains("no controls"));
    }

    #[test]
    fn the_listing_reads_like_v4l2_ctl() {
        let controls = vivid();
        assert_eq!(format_control(&controls[0], None), "\nUser Controls\n\n");
        assert_eq!(
            format_control(&controls[1], Some(200)),
            "                     brightness 0x00980900 (int)    : min=0 max=255 step=1 \
             default=128 value=200 flags=slider\n"
        );
        assert_eq!(
            format_control(&controls[8], Some(3)),
            "                           menu 0x0098f904 (menu)   : min=1 max=4 default=3 \
             value=3 (Menu Item 3)\n\
             \x20                                  1: Menu Item 1\n\
             \x20                                  3: Menu Item 3\n\
             \x20                                  4: Menu Item 4\n"
        );
        assert!(format_control(&controls[11], None).contains("default=16 dims=[1]"));
        assert!(format_control(&controls[14], Some(0x8000_2000))
            .contains("(bitmask): max=0x80402010 default=0x80002000 value=0x80002000"));
        let mut odd = controls[3].clone();
        odd.flags = 0x0010 | 0x1000;
        assert!(format_control(&odd, None).ends_with("default=0 flags=inactive, 0x00001000\n"));
    }
}
