//! Batches: a stream's rows built column by column and handed to the sink.

use super::*;

/// Column builders for one raw stream, filled row by row in schema order.
pub(super) struct Table {
    pub(super) spec: StreamSpec,
    pub(super) cols: Vec<Box<dyn ArrayBuilder>>,
    /// Rows not yet handed to the sink.
    pub(super) len: usize,
    /// Rows generated so far, for the summary.
    pub(super) total: u64,
}

impl Table {
    pub(super) fn new(
        source_type: &'static str,
        stream: &'static str,
    ) -> Result<Self, GenerateError> {
        let spec =
            find(source_type, stream).ok_or(GenerateError::UnknownStream(source_type, stream))?;
        let cols = spec
            .schema
            .fields()
            .iter()
            .map(|f| make_builder(f.data_type(), 256))
            .collect();
        Ok(Self {
            spec,
            cols,
            len: 0,
            total: 0,
        })
    }

    /// Starts a row; its values must be given in schema order, then [`Row::end`].
    pub(super) fn row(&mut self) -> Row<'_> {
        Row {
            table: self,
            next: 0,
        }
    }

    pub(super) fn take(&mut self) -> Result<Option<RecordBatch>, ArrowError> {
        if self.len == 0 {
            return Ok(None);
        }
        self.len = 0;
        let cols: Vec<ArrayRef> = self.cols.iter_mut().map(|b| b.finish()).collect();
        // try_new checks types, nullability and lengths against the stream's schema.
        RecordBatch::try_new(self.spec.schema.clone(), cols).map(Some)
    }

    pub(super) fn flush_daily(
        &mut self,
        date: NaiveDate,
        sink: &mut dyn RawSink,
    ) -> Result<(), GenerateError> {
        if let Some(batch) = self.take()? {
            sink.daily(&self.spec, date, batch)?;
        }
        Ok(())
    }

    pub(super) fn flush_snapshot(&mut self, sink: &mut dyn RawSink) -> Result<(), GenerateError> {
        if let Some(batch) = self.take()? {
            sink.snapshot(&self.spec, batch)?;
        }
        Ok(())
    }

    pub(super) fn flush_snapshot_if_full(
        &mut self,
        sink: &mut dyn RawSink,
    ) -> Result<(), GenerateError> {
        if self.len >= SNAPSHOT_BATCH_ROWS {
            self.flush_snapshot(sink)?;
        }
        Ok(())
    }
}

/// One row being appended to a [`Table`]; each call fills the next column.
pub(super) struct Row<'a> {
    pub(super) table: &'a mut Table,
    pub(super) next: usize,
}

impl Row<'_> {
    pub(super) fn builder<B: ArrayBuilder>(&mut self) -> &mut B {
        let i = self.next;
        self.next += 1;
        let Table { cols, spec, .. } = &mut *self.table;
        cols[i].as_any_mut().downcast_mut::<B>().unwrap_or_else(|| {
            panic!(
                "{}/{}: column {} is not a {}",
                spec.source_type,
                spec.stream,
                spec.schema.field(i).name(),
                std::any::type_name::<B>()
            )
        })
    }

    pub(super) fn str(mut self, v: &str) -> Self {
        self.builder::<StringBuilder>().append_value(v);
        self
    }

    pub(super) fn opt_str(mut self, v: Option<&str>) -> Self {
        self.builder::<StringBuilder>().append_option(v);
        self
    }

    pub(super) fn int(mut self, v: i64) -> Self {
        self.builder::<Int64Builder>().append_value(v);
        self
    }

    pub(super) fn count(self, v: u64) -> Self {
        self.int(v as i64)
    }

    pub(super) fn float(mut self, v: f64) -> Self {
        self.builder::<Float64Builder>().append_value(v);
        self
    }

    pub(super) fn opt_float(mut self, v: Option<f64>) -> Self {
        self.builder::<Float64Builder>().append_option(v);
        self
    }

    pub(super) fn ts(mut self, v: Option<i64>) -> Self {
        self.builder::<TimestampMillisecondBuilder>()
            .append_option(v);
        self
    }

    pub(super) fn opt_date(mut self, v: Option<NaiveDate>) -> Self {
        let days =
            v.map(|d| (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid")).num_days() as i32);
        self.builder::<Date32Builder>().append_option(days);
        self
    }

    pub(super) fn boolean(mut self, v: bool) -> Self {
        self.builder::<BooleanBuilder>().append_value(v);
        self
    }

    pub(super) fn end(self) {
        assert_eq!(
            self.next,
            self.table.cols.len(),
            "{}/{}: row with a wrong number of values",
            self.table.spec.source_type,
            self.table.spec.stream
        );
        self.table.len += 1;
        self.table.total += 1;
    }
}
