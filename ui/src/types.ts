// Names for the generated types as the UI uses them (values coming out of the backend).
export type { AppInfo, Check, ConfigKind, ErrorCode, ExportFormat, ExportWhat, FinalStatus, MetricInfo, RenderFormat, UiError, Unit, Written } from "./bindings";
export type {
  Catalog_Serialize as Catalog,
  Choices_Serialize as Choices,
  Comparison_Serialize as Comparison,
  ConfigDoc_Serialize as ConfigDoc,
  EnvView_Serialize as EnvView,
  LiveView_Serialize as LiveView,
  Problem_Serialize as Problem,
  RequestBrief_Serialize as RequestBrief,
  SecretInfo_Serialize as SecretInfo,
  SessionRow_Serialize as SessionRow,
  SessionStats_Serialize as SessionStats,
  StackProgress_Serialize as StackProgress,
  StackView_Serialize as StackView,
  TrafficReport_Serialize as TrafficReport,
  Verdict_Serialize as Verdict,
} from "./bindings";
