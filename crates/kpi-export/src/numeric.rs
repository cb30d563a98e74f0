//! PostgreSQL's binary `numeric`, for what a double cannot hold exactly
//! (an unsigned 64-bit count past 2^53, a decimal): tokio-postgres has no
//! encoder of its own without a decimal crate.

use tokio_postgres::types::{ToSql, Type};

/// A decimal number as its text (`-123.45`, `18446744073709551615`), sent
/// as PostgreSQL's binary `numeric`: exact, unlike a double.
#[derive(Debug, Clone, PartialEq)]
pub struct Numeric(pub String);

impl Numeric {
    /// PostgreSQL's binary form: digit count, weight (of the first base-10000
    /// digit), sign and display scale, then the base-10000 digits.
    fn binary(&self) -> Result<Vec<u8>, String> {
        let text = self.0.trim();
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let decimal = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if (int.is_empty() && frac.is_empty()) || !decimal(int) || !decimal(frac) {
            return Err(format!("{text:?} is not a decimal number"));
        }
        let int = int.trim_start_matches('0');
        let scale = u16::try_from(frac.len()).map_err(|_| format!("{text:?}: too many digits"))?;
        // Groups of four digits either side of the point.
        let int = format!("{}{int}", "0".repeat((4 - int.len() % 4) % 4));
        let frac = format!("{frac}{}", "0".repeat((4 - frac.len() % 4) % 4));
        let group = |s: &str| s.parse::<i16>().expect("four digits");
        let mut groups: Vec<i16> = (0..int.len() / 4)
            .map(|i| group(&int[i * 4..i * 4 + 4]))
            .chain((0..frac.len() / 4).map(|i| group(&frac[i * 4..i * 4 + 4])))
            .collect();
        let mut weight = (int.len() / 4) as i32 - 1;
        let leading = groups.iter().take_while(|g| **g == 0).count();
        groups.drain(..leading);
        weight -= leading as i32;
        while groups.last() == Some(&0) {
            groups.pop();
        }
        if groups.is_empty() {
            weight = 0;
        }
        let weight = i16::try_from(weight).map_err(|_| format!("{text:?}: out of range"))?;
        let sign: u16 = if negative && !groups.is_empty() {
            0x4000
        } else {
            0
        };
        let mut out = Vec::with_capacity(8 + 2 * groups.len());
        out.extend((groups.len() as i16).to_be_bytes());
        out.extend(weight.to_be_bytes());
        out.extend(sign.to_be_bytes());
        out.extend(scale.to_be_bytes());
        for g in groups {
            out.extend(g.to_be_bytes());
        }
        Ok(out)
    }
}

impl ToSql for Numeric {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(&self.binary()?);
        Ok(tokio_postgres::types::IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }

    tokio_postgres::types::to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_is_encoded_in_base_10000_groups() {
        let bin = |s: &str| Numeric(s.into()).binary().unwrap();
        // 12345.67: 1|2345|6700, weight 1, scale 2.
        assert_eq!(
            bin("12345.67"),
            [0, 3, 0, 1, 0, 0, 0, 2, 0, 1, 0x09, 0x29, 0x1A, 0x2C]
        );
        // -0.5: 5000 at weight -1, negative, scale 1.
        assert_eq!(bin("-0.5"), [0, 1, 0xFF, 0xFF, 0x40, 0, 0, 1, 0x13, 0x88]);
        // Zero has no digits.
        assert_eq!(bin("0.00"), [0, 0, 0, 0, 0, 0, 0, 2]);
        assert!(Numeric("1e5".into()).binary().is_err());
    }

    /// The encoding read back by the real server (`KPI_TEST_POSTGRES_URL`).
    #[test]
    fn postgres_reads_numeric_back_as_written() {
        let Ok(url) = std::env::var("KPI_TEST_POSTGRES_URL") else {
            eprintln!("skipped: KPI_TEST_POSTGRES_URL is not set");
            return;
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(conn);
            for text in [
                "18446744073709551615",
                "-123.4500",
                "0.0001",
                "0",
                "100000000",
                "9999.99990",
                "-0.5",
            ] {
                let row = client
                    .query_one("SELECT $1::numeric::text", &[&Numeric(text.into())])
                    .await
                    .unwrap();
                assert_eq!(row.get::<_, String>(0), text);
            }
        });
    }
}
